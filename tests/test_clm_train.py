"""run_clm end to end on a tiny Backpack: learning, freezing, exact resume, and bad input refused early."""
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

import run_clm
from langadapt.clm.arguments import parse_clm_arguments
from langadapt.clm.runner import train_clm
from langadapt.cli import run_cli
from langadapt.errors import LangAdaptError

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
TRAIN, VALID = str(DATA / "english_train.txt"), str(DATA / "english_valid.txt")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine run an order of magnitude faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def clm_args(model, out, *extra):
    return ["--model_name_or_path", str(model), "--train_file", TRAIN, "--validation_file", VALID,
            "--output_dir", str(out), "--block_size", "32", "--per_device_train_batch_size", "4",
            "--per_device_eval_batch_size", "8", "--max_eval_samples", "16", "--report_to", "none",
            "--learning_rate", "3e-3", "--seed", "7", "--disable_tqdm", "true", "--dataloader_pin_memory", "false",
            *extra]


def weights(folder):
    return load_file(str(Path(folder) / "model.safetensors"))


def test_training_lowers_eval_loss_and_writes_model_tokenizer_and_metrics(tiny_backpack_dir, tmp_path):
    before = run_clm.main(clm_args(tiny_backpack_dir, tmp_path / "eval0", "--do_eval")) == 0 and \
        json.loads((tmp_path / "eval0" / "all_results.json").read_text())
    out = tmp_path / "run"
    assert run_clm.main(clm_args(tiny_backpack_dir, out, "--do_train", "--do_eval", "--max_steps", "30",
                                 "--save_steps", "15", "--logging_steps", "10")) == 0
    after = json.loads((out / "all_results.json").read_text())
    assert after["eval_loss"] < before["eval_loss"] - 0.5
    assert after["perplexity"] == pytest.approx(torch.tensor(after["eval_loss"]).exp().item(), rel=1e-5)
    assert after["eval_token_accuracy"] > before["eval_token_accuracy"]
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert json.loads((out / "config.json").read_text())["model_type"] == "backpack-gpt2"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-15", "checkpoint-30"]
    # the original run_clm's result keys: blocks used, and the Trainer's 6 x tokens x non-embedding parameters
    from transformers import AutoTokenizer

    from langadapt.models import load_causal_lm

    train = json.loads((out / "train_results.json").read_text())
    blocks = blocks_as_the_original_makes_them(TRAIN, AutoTokenizer.from_pretrained(tiny_backpack_dir), 32, 10 ** 6)
    assert train["train_samples"] == len(blocks) == after["train_samples"]
    params = load_causal_lm(tiny_backpack_dir).num_parameters(exclude_embeddings=True)
    assert train["total_flos"] == 6 * 30 * 4 * 32 * params
    assert json.loads((out / "eval_results.json").read_text())["eval_samples"] == 16 == after["eval_samples"]


def test_freeze_weights_trains_only_the_head(tiny_backpack_dir, tmp_path):
    out = tmp_path / "frozen"
    assert run_clm.main(clm_args(tiny_backpack_dir, out, "--do_train", "--max_steps", "4",
                                 "--freeze_weights", "--save_strategy", "no")) == 0
    start, end = weights(tiny_backpack_dir), weights(out)
    head = "backpack.gpt2_model.wte.weight"  # the head is tied to the word embedding (as in the original)
    assert set(start) == set(end)
    assert not torch.equal(start[head], end[head])
    changed = [name for name in start if name != head and not torch.equal(start[name], end[name])]
    assert changed == []


class StopAt(TrainerCallback):
    """Stands in for a preemption: the run stops right after the checkpoint at `step`."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def test_interrupted_run_resumed_from_latest_checkpoint_matches_uninterrupted(tiny_backpack_dir, tmp_path):
    # 24 blocks / (2 x 2 accumulation) = 6 steps an epoch: the resume lands mid-epoch, the run crosses one.
    common = ["--do_train", "--max_steps", "9", "--save_steps", "4", "--max_train_samples", "24",
              "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--warmup_ratio", "0.2"]
    whole = tmp_path / "whole"
    assert run_clm.main(clm_args(tiny_backpack_dir, whole, *common)) == 0

    cut = tmp_path / "cut"
    train_clm(*parse_clm_arguments(clm_args(tiny_backpack_dir, cut, *common)), callbacks=[StopAt(4)])
    assert [p.name for p in cut.glob("checkpoint-*")] == ["checkpoint-4"]
    assert not all(torch.equal(a, b) for a, b in zip(weights(cut).values(), weights(whole).values()))
    assert run_clm.main(clm_args(tiny_backpack_dir, cut, *common, "--resume_from_checkpoint")) == 0

    expected, resumed = weights(whole), weights(cut)
    assert set(expected) == set(resumed)
    assert all(torch.equal(expected[name], resumed[name]) for name in expected)


def test_rerun_into_the_same_output_dir_continues_from_its_checkpoint(tiny_backpack_dir, tmp_path, caplog):
    out = tmp_path / "requeued"
    common = ["--do_train", "--max_steps", "4", "--save_steps", "2"]
    train_clm(*parse_clm_arguments(clm_args(tiny_backpack_dir, out, *common)), callbacks=[StopAt(2)])
    with caplog.at_level("INFO", logger="langadapt"):
        train_clm(*parse_clm_arguments(clm_args(tiny_backpack_dir, out, *common)))
    assert "resuming from checkpoint" in caplog.text
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4


def test_streaming_with_held_out_validation(tiny_backpack_dir, tmp_path):
    out = tmp_path / "stream"
    metrics = train_clm(*parse_clm_arguments(
        ["--model_name_or_path", tiny_backpack_dir, "--dataset_name", TRAIN, "--streaming", "--do_train",
         "--do_eval", "--max_steps", "3", "--max_eval_samples", "4", "--block_size", "32", "--output_dir", str(out),
         "--report_to", "none", "--per_device_train_batch_size", "2", "--dataloader_pin_memory", "false"]))
    assert metrics["train_runtime"] > 0 and metrics["eval_loss"] > 0
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 3


def test_any_causal_lm_trains(tiny_gpt2_dir, tmp_path):
    out = tmp_path / "gpt2"
    assert run_clm.main(clm_args(tiny_gpt2_dir, out, "--do_train", "--max_steps", "2", "--save_strategy", "no",
                                 "--attn_implementation", "eager")) == 0
    assert json.loads((out / "config.json").read_text())["model_type"] == "gpt2"


# ------------------------------------------------------------------------------------------- bad input
def write_config_folder(folder, config, tokenizer):
    folder.mkdir()
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def jsonl_without_text(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps({"body": f"sentence number {i} is here", "title": f"t{i}"})
                              for i in range(20)) + "\n")
    return str(path)


def refused(argv):
    with pytest.raises(LangAdaptError) as info:
        train_clm(*parse_clm_arguments(argv))
    return str(info.value)


def test_missing_file_and_unknown_dataset(tiny_backpack_dir, tmp_path):
    out = tmp_path / "out"
    assert "missing.txt: no such file or folder" in refused(
        clm_args(tiny_backpack_dir, out, "--do_train", "--train_file", str(tmp_path / "missing.txt")))
    assert "no-such-org/no-such-dataset" in refused(
        ["--model_name_or_path", tiny_backpack_dir, "--dataset_name", "no-such-org/no-such-dataset", "--do_train",
         "--output_dir", str(out)])
    assert not out.exists()


def test_text_column_errors_name_the_columns(tiny_backpack_dir, tmp_path, jsonl_without_text):
    base = ["--model_name_or_path", tiny_backpack_dir, "--train_file", jsonl_without_text, "--do_train",
            "--output_dir", str(tmp_path / "out")]
    message = refused(base + ["--text_column_name", "content"])
    assert "'content'" in message and "body, title" in message
    assert "body, title" in refused(base)
    assert not (tmp_path / "out").exists()


def test_block_size_beyond_model_positions(tiny_backpack_dir, tmp_path):
    message = refused(clm_args(tiny_backpack_dir, tmp_path / "out", "--do_train", "--block_size", "256"))
    assert "--block_size 256" in message and "128 positions" in message


def test_tokenizer_larger_than_embeddings(tiny_tokenizer, tmp_path):
    from langadapt.toy_models import tiny_backpack_config

    config_dir = write_config_folder(tmp_path / "small-vocab", tiny_backpack_config(vocab_size=100), tiny_tokenizer)
    message = refused(clm_args(config_dir, tmp_path / "out", "--do_train"))
    assert f"{len(tiny_tokenizer)} tokens" in message and "embeds only 100" in message


def test_output_dir_guards(tiny_backpack_dir, tmp_path):
    out = tmp_path / "used"
    out.mkdir()
    (out / "notes.txt").write_text("an earlier run's file")
    assert "--overwrite_output_dir" in refused(clm_args(tiny_backpack_dir, out, "--do_train"))
    assert "holds no run.json" in refused(clm_args(tiny_backpack_dir, out, "--do_train",
                                                        "--resume_from_checkpoint"))
    assert (out / "notes.txt").is_file()


def test_cli_reports_one_line_and_exit_status_2(tiny_backpack_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(run_clm.main, clm_args(tiny_backpack_dir, tmp_path / "out", "--do_train", "--block_size", "999"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --block_size 999")


SEED_COMMAND = """
python run_clm.py \
	--model_name_or_path <your_model_config> \
	--config_name <your_model_config> \
	--tokenizer_name <your_model_config> \
	--dataset_name Skylion007/openwebtext \
	--per_device_train_batch_size 64 \
	--per_device_eval_batch_size 64 \
	--bf16 \
	--gradient_accumulation_steps 32 \
	--warmup_ratio 0.1 \
	--weight_decay 0.01 \
	--do_train --do_eval \
	--output_dir <output> \
	--max_steps 300000 \
	--block_size 512 \
	--report_to wandb \
	--run_name <runname> \
	--logging_steps 32 \
	--save_steps 512 \
	--save_total_limit 5
"""


def write_stanford_config_folder(folder, config, tokenizer):
    """A config folder as `stanfordnlp/backpack-gpt2` publishes it: model_type gpt2, the Backpack
    architecture, an auto_map to the hub's modeling files (which must never run)."""
    folder.mkdir()
    fields = {k: v for k, v in config.to_dict().items() if k not in ("auto_map", "transformers_version")}
    fields.update(model_type="gpt2", architectures=["BackpackGPT2LMHeadModel"], auto_map={
        "AutoConfig": "configuration_backpack_gpt2.BackpackGPT2Config",
        "AutoModelForCausalLM": "modeling_backpack_gpt2.BackpackGPT2LMHeadModel"})
    (folder / "config.json").write_text(json.dumps(fields))
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("config_format", ["langadapt", "stanfordnlp"])
def test_seed_command_with_local_paths_pretrains_from_a_config_folder(tiny_tokenizer, tmp_path, monkeypatch, caplog,
                                                                      config_format):
    """The README's command as pasted; only paths and the sizes a CPU test can afford are substituted."""
    from datasets import DatasetDict, load_dataset

    from langadapt.toy_models import tiny_backpack_config

    write = write_config_folder if config_format == "langadapt" else write_stanford_config_folder
    config_dir = write(tmp_path / "backpack-config", tiny_backpack_config(len(tiny_tokenizer), n_positions=512),
                       tiny_tokenizer)
    data_dir = tmp_path / "owt-sample"
    DatasetDict(load_dataset("text", data_files={"train": TRAIN, "validation": VALID})).save_to_disk(str(data_dir))
    substitutions = {"<your_model_config>": config_dir, "Skylion007/openwebtext": str(data_dir),
                     "<output>": str(tmp_path / "out"), "<runname>": "seed-test",
                     "batch_size 64": "batch_size 2", "accumulation_steps 32": "accumulation_steps 2",
                     "max_steps 300000": "max_steps 3", "logging_steps 32": "logging_steps 1",
                     "save_steps 512": "save_steps 2"}
    command = SEED_COMMAND
    for placeholder, value in substitutions.items():
        command = command.replace(placeholder, value)
    argv = command.replace("\\", " ").split()[2:]
    monkeypatch.setenv("WANDB_MODE", "disabled")
    with caplog.at_level("INFO", logger="langadapt"):
        metrics = train_clm(*parse_clm_arguments(argv))
    assert "initialised a new BackpackGPT2LMHeadModel from its config" in caplog.text
    assert f"recognised a Backpack config in the {config_format} format" in caplog.text
    out = tmp_path / "out"
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 3
    assert (out / "model.safetensors").is_file() and (out / "checkpoint-2").is_dir()
    assert json.loads((out / "config.json").read_text())["model_type"] == "backpack-gpt2"
    assert "backpack.sense_network.final_mlp.c_proj.weight" in weights(out)
    assert metrics["eval_loss"] > 0 and "perplexity" in metrics and "eval_token_accuracy" in metrics


def test_model_type_with_config_overrides_builds_from_scratch(tiny_backpack_dir, tmp_path):
    out = tmp_path / "scratch"
    argv = ["--model_type", "gpt2", "--tokenizer_name", tiny_backpack_dir, "--config_overrides",
            "n_embd=16,n_layer=1,n_head=2,vocab_size=400,n_positions=64", "--train_file", TRAIN, "--do_train",
            "--max_steps", "1", "--block_size", "64", "--output_dir", str(out), "--report_to", "none",
            "--save_strategy", "no", "--dataloader_pin_memory", "false"]
    train_clm(*parse_clm_arguments(argv))
    config = json.loads((out / "config.json").read_text())
    assert (config["n_embd"], config["n_layer"], config["n_positions"]) == (16, 1, 64)


def test_config_overrides_on_trained_weights_and_missing_attention_kernel_are_refused(tiny_backpack_dir, tmp_path):
    assert "--config_overrides only applies" in refused(
        clm_args(tiny_backpack_dir, tmp_path / "a", "--do_train", "--config_overrides", "n_layer=1"))
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        assert "--attn_implementation flash_attention_2" in refused(
            clm_args(tiny_backpack_dir, tmp_path / "b", "--do_train", "--attn_implementation", "flash_attention_2"))


def blocks_as_the_original_makes_them(path, tokenizer, block_size, count):
    """run_clm's `group_texts` written out: tokenise each line (line breaks kept), concatenate, cut."""
    from datasets import load_dataset

    texts = load_dataset("text", data_files=path, split="train", keep_linebreaks=True)["text"]
    joined = [token for text in texts for token in tokenizer(text)["input_ids"]]
    blocks = [joined[i: i + block_size] for i in range(0, len(joined) - block_size + 1, block_size)]
    return torch.tensor(blocks[:count])


@pytest.mark.parametrize("fixture", ["tiny_backpack_dir", "tiny_gpt2_dir"])
def test_reported_eval_loss_is_the_mean_nll_per_predicted_token(request, fixture, tmp_path):
    """Recomputed directly: total NLL over every next-token prediction / their count (10 blocks in eval
    batches of 4, 4, 2, so batch means would not do). Stock GPT-2 too: transformers counted its L labels."""
    from transformers import AutoTokenizer

    from langadapt.models import load_causal_lm

    path = request.getfixturevalue(fixture)
    argv = clm_args(path, tmp_path / "e", "--do_eval", "--max_eval_samples", "10",
                    "--per_device_eval_batch_size", "4")
    metrics = train_clm(*parse_clm_arguments(argv))
    ids = blocks_as_the_original_makes_them(VALID, AutoTokenizer.from_pretrained(path), 32, 10)
    assert ids.shape == (10, 32)
    model = load_causal_lm(path).eval()
    with torch.no_grad():
        logits = model(ids).logits
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).double(),
                                            ids[:, 1:].reshape(-1), reduction="sum")
    expected = (nll / ids[:, 1:].numel()).item()
    assert metrics["eval_loss"] == pytest.approx(expected, abs=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    accuracy = (logits[:, :-1].argmax(-1) == ids[:, 1:]).double().mean().item()
    assert metrics["eval_accuracy"] == pytest.approx(accuracy) == metrics["eval_token_accuracy"]


@pytest.mark.parametrize("fixture", ["tiny_backpack_dir", "tiny_gpt2_dir"])
def test_label_smoothing_shifts_like_a_causal_lm(request, fixture, tmp_path):
    """--label_smoothing_factor e: (1 - e) * mean NLL of the next token + e * mean over next-token positions
    of the mean -log p over the vocabulary (the Trainer's LabelSmoother with shift_labels), for a Backpack as
    for GPT-2; the Trainer alone scored a Backpack's positions against their own tokens, over L-1."""
    from transformers import AutoTokenizer

    from langadapt.models import load_causal_lm

    path, eps = request.getfixturevalue(fixture), 0.1
    argv = clm_args(path, tmp_path / "e", "--do_eval", "--max_eval_samples", "10", "--per_device_eval_batch_size",
                    "4", "--label_smoothing_factor", str(eps))
    metrics = train_clm(*parse_clm_arguments(argv))
    ids = blocks_as_the_original_makes_them(VALID, AutoTokenizer.from_pretrained(path), 32, 10)
    model = load_causal_lm(path).eval()
    with torch.no_grad():
        neg_logp = -model(ids).logits[:, :-1].double().log_softmax(-1)
    nll = neg_logp.gather(-1, ids[:, 1:, None]).mean()
    expected = (1 - eps) * nll + eps * neg_logp.mean()
    assert metrics["eval_loss"] == pytest.approx(expected.item(), abs=1e-5)


def test_training_loss_is_per_predicted_token(tiny_backpack_dir):
    """The Trainer's loss for one batch (summed and divided by its num_items_in_batch) is the plain mean
    over the L-1 next-token predictions of each row."""
    from transformers import Trainer, TrainingArguments

    from langadapt.models import load_causal_lm

    model = load_causal_lm(tiny_backpack_dir).eval()
    trainer = Trainer(model=model, args=TrainingArguments(output_dir="unused", report_to="none", use_cpu=True))
    ids = torch.randint(0, 300, (3, 16))
    batch = {"input_ids": ids, "labels": ids.clone()}
    count = trainer._get_num_items_in_batch([batch], torch.device("cpu"))
    assert int(count) == 3 * 15
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch, num_items_in_batch=count)
        logits = model(ids).logits
    expected = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_config_name_next_to_weights_is_applied(tiny_backpack_dir, tmp_path):
    """As the original: the config of --config_name, the weights of --model_name_or_path."""
    config = json.loads((Path(tiny_backpack_dir) / "config.json").read_text())
    config_dir = tmp_path / "other-config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps(dict(config, resid_pdrop=0.0, embd_pdrop=0.0,
                                                            attn_pdrop=0.0)))
    out = tmp_path / "c"
    train_clm(*parse_clm_arguments(clm_args(tiny_backpack_dir, out, "--do_train", "--max_steps", "1",
                                            "--config_name", str(config_dir), "--save_strategy", "no")))
    saved = json.loads((out / "config.json").read_text())
    assert (saved["resid_pdrop"], saved["embd_pdrop"], saved["attn_pdrop"]) == (0.0, 0.0, 0.0)


def test_original_model_flags(tiny_backpack_dir, tmp_path, caplog):
    from langadapt.clm.modeling import build_model, build_tokenizer

    model_args, _, _ = parse_clm_arguments(clm_args(tiny_backpack_dir, tmp_path / "f", "--do_train",
                                                    "--trust_remote_code", "--no_use_fast_tokenizer"))
    assert model_args.trust_remote_code and not model_args.use_fast_tokenizer
    with caplog.at_level("WARNING", logger="langadapt"):
        build_model(model_args)
    assert "no code from the hub is executed" in caplog.text
    assert build_tokenizer(model_args) is not None
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        assert "--use_flash_attn needs the flash-attn package" in refused(
            clm_args(tiny_backpack_dir, tmp_path / "g", "--do_train", "--use_flash_attn"))
    assert "--use_flash_attn and --attn_implementation eager" in refused(
        clm_args(tiny_backpack_dir, tmp_path / "h", "--do_train", "--use_flash_attn", "--attn_implementation", "eager"))
