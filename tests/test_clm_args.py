"""run_clm's flags: the seed command's flags, transformers-4 aliases, and refused combinations."""
import pytest

from langadapt.clm.arguments import RESUME_LATEST, parse_clm_arguments
from langadapt.errors import LangAdaptError

BASE = ["--model_name_or_path", "m", "--train_file", "t.txt", "--do_train", "--output_dir", "out"]


def test_seed_command_flags_parse_with_their_meaning():
    model_args, data_args, args = parse_clm_arguments([
        "--model_name_or_path", "cfg", "--config_name", "cfg", "--tokenizer_name", "cfg",
        "--dataset_name", "Skylion007/openwebtext", "--per_device_train_batch_size", "64",
        "--per_device_eval_batch_size", "64", "--bf16", "--gradient_accumulation_steps", "32",
        "--warmup_ratio", "0.1", "--weight_decay", "0.01", "--do_train", "--do_eval", "--output_dir", "out",
        "--max_steps", "300000", "--block_size", "512", "--report_to", "none", "--run_name", "r",
        "--logging_steps", "32", "--save_steps", "512", "--save_total_limit", "5"])
    assert (model_args.config_name, model_args.tokenizer_name, data_args.dataset_name) == \
        ("cfg", "cfg", "Skylion007/openwebtext")
    assert args.warmup_steps == 0.1 and args.get_warmup_steps(300000) == 30000
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps, args.bf16) == (64, 32, True)
    assert (args.max_steps, data_args.block_size, args.save_total_limit, args.run_name) == (300000, 512, 5, "r")


def test_transformers4_aliases():
    _, _, args = parse_clm_arguments(BASE + ["--evaluation_strategy", "steps", "--eval_steps", "7",
                                             "--overwrite_output_dir"])
    assert str(args.eval_strategy.value) == "steps" and args.do_eval and args.overwrite_output_dir


def test_bare_resume_flag_means_latest_and_a_path_is_kept():
    assert parse_clm_arguments(BASE + ["--resume_from_checkpoint"])[2].resume_from_checkpoint == RESUME_LATEST
    args = parse_clm_arguments(["--resume_from_checkpoint", "--seed", "3"] + BASE)[2]
    assert args.resume_from_checkpoint == RESUME_LATEST and args.seed == 3
    assert parse_clm_arguments(BASE + ["--resume_from_checkpoint", "ck/x"])[2].resume_from_checkpoint == "ck/x"
    assert parse_clm_arguments(BASE)[2].resume_from_checkpoint is None


def test_json_file_is_read_as_the_flags(tmp_path):
    import json

    path = tmp_path / "args.json"
    path.write_text(json.dumps({"model_name_or_path": "m", "train_file": "t.txt", "do_train": True,
                                "output_dir": "out", "warmup_ratio": 0.2, "resume_from_checkpoint": True}))
    model_args, _, args = parse_clm_arguments([str(path)])
    assert model_args.model_name_or_path == "m" and args.warmup_steps == 0.2
    assert args.resume_from_checkpoint == RESUME_LATEST


@pytest.mark.parametrize("extra, fragment", [
    (["--dataset_name", "x"], "--dataset_name or --train_file"),
    (["--streaming"], "--max_steps"),
    (["--evaluation_strategy", "steps", "--eval_strategy", "epoch"], "--evaluation_strategy"),
    (["--warmup_ratio", "0.1", "--warmup_steps", "5"], "--warmup_ratio and --warmup_steps"),
    (["--warmup_ratio", "1.5"], "[0, 1)"),
    (["--validation_split_percentage", "100"], "--validation_split_percentage"),
    (["--block_size", "0"], "--block_size"),
    (["--streaming", "--max_steps", "5", "--preprocessing_num_workers", "2"], "--preprocessing_num_workers"),
])
def test_conflicting_flags_are_refused(extra, fragment):
    with pytest.raises(LangAdaptError, match=None) as info:
        parse_clm_arguments(BASE + extra)
    assert fragment in str(info.value)


def test_missing_model_tokenizer_or_data_are_refused():
    with pytest.raises(LangAdaptError, match="--do_train needs training data"):
        parse_clm_arguments(["--model_name_or_path", "m", "--do_train", "--output_dir", "o"])
    with pytest.raises(LangAdaptError, match="no tokenizer"):
        parse_clm_arguments(["--model_type", "gpt2", "--train_file", "t.txt", "--do_train", "--output_dir", "o"])
    with pytest.raises(LangAdaptError, match="no model"):
        parse_clm_arguments(["--tokenizer_name", "t", "--train_file", "t.txt", "--do_train", "--output_dir", "o"])
