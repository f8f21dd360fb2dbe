"""commit_train.py's command line: the COMMIT README's EasyLM commands parse into our flags."""
import logging

import pytest

from langadapt.commit.args import parse_args
from langadapt.errors import LangAdaptError

MODEL_CONFIG = '{"resid_pdrop": 0.05, "embd_pdrop": 0.05, "attn_pdrop": 0.05, "fcm_max_ratio": 0.1}'


def easylm_training_flags(model, out, total_steps, warmup_steps):
    """The model, logger, tokenizer and optimiser flags both README commands share, in their order."""
    return [
        "--mesh_dim=1,1,-1", "--load_llama_config=7b", f"--load_checkpoint=params::{model}",
        f"--total_steps={total_steps}", f"--logger.output_dir={out}", f"--save_milestone_freq={total_steps}",
        "--tokenizer.vocab_file=tokenizer.model", "--tokenizer.add_bos_token=True", "--tokenizer.add_eos_token=True",
        "--optimizer.type=adamw", "--optimizer.accumulate_gradient_steps=1",
        "--optimizer.adamw_optimizer.weight_decay=0.0", "--optimizer.adamw_optimizer.lr=2e-5",
        "--optimizer.adamw_optimizer.b1=0.9", "--optimizer.adamw_optimizer.b2=0.999",
        "--optimizer.adamw_optimizer.end_lr=1e-7", f"--optimizer.adamw_optimizer.lr_warmup_steps={warmup_steps}",
        f"--optimizer.adamw_optimizer.lr_decay_steps={total_steps}", "--optimizer.adamw_optimizer.bf16_momentum=True"]


def commit_command(lang="hi", model="LLAMA", out="SAVE", data="tatsu-lab/alpaca", dicts="dicts",
                   total_steps=1210, seq_length=512, batch_size=16):
    """Every flag of the README's COMMIT command, in its order, with the paths and sizes substituted."""
    return easylm_training_flags(model, out, total_steps, 36) + [
        "--train_dataset.text_processor.alpaca=True",
        f"--train_dataset.text_processor.codemix_dict_path={dicts}/en-{lang}.txt",
        "--train_dataset.text_processor.codemix_ratio=0.9",
        "--train_dataset.text_processor.block_codemix_in_template=True",
        "--train_dataset.type=huggingface", f"--train_dataset.huggingface_dataset.path={data}",
        f"--train_dataset.huggingface_dataset.seq_length={seq_length}",
        f"--train_dataset.huggingface_dataset.batch_size={batch_size}",
        f"--update_llama_config={MODEL_CONFIG}", "--log_freq=5000"]


def align_command(lang="hi", model="LLAMA", out="ALIGNED", data="graelo/wikipedia", config="20230601.hi",
                  dicts="dicts", total_steps=10000, seq_length=512, batch_size=16):
    """Every flag of the README's alignment command."""
    return easylm_training_flags(model, out, total_steps, 300) + [
        "--train_dataset.text_processor.fields='text'",
        f"--train_dataset.text_processor.codemix_dict_path={dicts}/{lang}-en.txt",
        "--train_dataset.text_processor.codemix_ratio=0.5", "--train_dataset.type='huggingface'",
        f"--train_dataset.huggingface_dataset.path={data}", f"--train_dataset.huggingface_dataset.name={config}",
        f"--train_dataset.huggingface_dataset.seq_length={seq_length}",
        f"--train_dataset.huggingface_dataset.batch_size={batch_size}",
        f"--update_llama_config={MODEL_CONFIG}", "--log_freq=5000"]


def test_commit_seed_command_maps_to_our_flags(caplog):
    with caplog.at_level(logging.INFO, logger="langadapt.commit.args"):
        args = parse_args(commit_command())
    assert (args.model_name_or_path, args.tokenizer_name, args.output_dir) == ("LLAMA", "tokenizer.model", "SAVE")
    assert (args.mode, args.dataset_name, args.codemix_dict_path) == ("alpaca", "tatsu-lab/alpaca", "dicts/en-hi.txt")
    assert (args.codemix_ratio, args.block_codemix_in_template) == (0.9, True)
    assert (args.total_steps, args.save_steps, args.log_steps) == (1210, 1210, 5000)
    assert (args.lr, args.end_lr, args.warmup_steps, args.lr_decay_steps) == (2e-5, 1e-7, 36, 1210)
    assert (args.b1, args.b2, args.weight_decay, args.gradient_accumulation_steps) == (0.9, 0.999, 0.0, 1)
    assert (args.bf16_momentum, args.shuffle, args.train_first_response_token) == (True, False, False)
    assert (args.seq_length, args.batch_size, args.add_bos_token, args.add_eos_token) == (512, 16, True, True)
    assert (args.resid_pdrop, args.embd_pdrop, args.attn_pdrop, args.fcm_max_ratio) == (0.05, 0.05, 0.05, 0.1)
    ignored = [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(ignored) == 1 and "--mesh_dim" in ignored[0] and "--load_llama_config" in ignored[0]


def test_align_seed_command_maps_to_text_mode():
    args = parse_args(align_command())
    assert (args.mode, args.text_field) == ("text", "text")
    assert (args.dataset_name, args.dataset_config_name) == ("graelo/wikipedia", "20230601.hi")
    assert (args.codemix_dict_path, args.codemix_ratio) == ("dicts/hi-en.txt", 0.5)
    assert (args.total_steps, args.warmup_steps, args.lr_decay_steps) == (10000, 300, 10000)


def test_defaults_are_the_readme_commit_values():
    args = parse_args(["--model_name_or_path", "m", "--output_dir", "o"])
    assert (args.mode, args.total_steps, args.lr, args.warmup_steps, args.seq_length, args.batch_size) == \
        ("alpaca", 1210, 2e-5, 36, 512, 16)
    assert (args.fcm_max_ratio, args.resid_pdrop, args.clip_grad_norm, args.codemix_dict_path) == (0.1, 0.05, 1.0, None)


def test_an_easylm_command_gets_easylms_defaults_for_what_it_leaves_out():
    """Without --update_llama_config EasyLM trains with no dropout and no FCM; its other defaults likewise."""
    args = parse_args([a for a in commit_command() if not a.startswith(("--update_llama_config", "--optimizer"))])
    assert (args.resid_pdrop, args.embd_pdrop, args.attn_pdrop, args.fcm_max_ratio) == (0.0, 0.0, 0.0, 0.0)
    assert (args.lr, args.end_lr, args.b2, args.weight_decay, args.bf16_momentum) == (0.01, 0.001, 0.95, 1e-4, False)
    args = parse_args(["--load_checkpoint=params::m", "--logger.output_dir=o", "--train_dataset.text_processor.alpaca"])
    assert (args.seq_length, args.batch_size, args.add_bos_token, args.codemix_ratio) == (1024, 8, False, 0.0)
    assert (args.total_steps, args.warmup_steps, args.lr_decay_steps, args.log_steps) == (10000, 2000, 500000, 50)
    with pytest.raises(LangAdaptError, match="alpaca=True or --train_dataset.text_processor.fields"):
        parse_args(["--load_checkpoint=params::m", "--logger.output_dir=o"])


@pytest.mark.parametrize("argv, message", [
    (["--codemix_ratio", "1.2"], "codemix_ratio"),
    (["--optimizer.type=sgd"], "optimizer.type"),
    (["--train_dataset.text_processor.fields=[instruction],output"], "single field"),
    (["--update_llama_config={\"rope_theta\": 1}"], "rope_theta"),
    (["--update_llama_config=not json"], "JSON"),
    (["--load_checkpoint=trainstate::x"], "resume_from_checkpoint"),
    (["--bf16", "--fp16"], "exclude"),
    (["--fsdp", "--fp16"], "--fsdp trains in full precision or with --bf16"),
    (["--warmup_steps", "50", "--lr_decay_steps", "50"], "optax counts the warmup"),
    (["--gradient_accumulation_steps", "4", "--save_steps", "6"], "multiple of --gradient_accumulation_steps"),
])
def test_bad_flags_name_the_flag(argv, message):
    with pytest.raises(LangAdaptError, match=message):
        parse_args(["--model_name_or_path", "m", "--output_dir", "o"] + argv)


def test_model_and_output_are_required():
    with pytest.raises(LangAdaptError, match="model_name_or_path"):
        parse_args(["--output_dir", "o"])
