"""Sense-adaptation data plumbing: translation keys, batches and masks, FLORES pairs, SLURM variables."""
import pytest
import torch

from langadapt.distributed import torch_env_from_slurm
from langadapt.errors import LangAdaptError
from langadapt.sense_adaptation.data import (PairCollator, TokenizedPairs, load_flores_pairs, target_labels,
                                             translation_key)


def test_translation_key_accepts_any_code_form():
    assert translation_key(["en", "sw"], "eng", "--src") == "en"
    assert translation_key(["eng_Latn", "swh_Latn"], "swh", "--tgt") == "swh_Latn"
    with pytest.raises(LangAdaptError, match="--tgt 'tur'.*keys found: en, sw"):
        translation_key(["en", "sw"], "tur", "--tgt")


def test_batches_pad_right_and_keep_real_eos_as_labels(tiny_tokenizer):
    eos = tiny_tokenizer.eos_token
    pairs = TokenizedPairs(tiny_tokenizer, ["a house", f"dog{eos}", ""], ["nyumba ni jengo", "mbwa", "x"], 8)
    assert len(pairs) == 2 and pairs.dropped == 1  # the pair with an empty side is dropped
    batch = PairCollator(tiny_tokenizer.pad_token_id)([pairs[0], pairs[1]])
    src_lengths = [len(pairs[0]["input_ids_src"]), len(pairs[1]["input_ids_src"])]
    assert batch["src_mask"].sum(dim=1).tolist() == src_lengths
    assert batch["src_ids"][1, src_lengths[1] - 1].item() == tiny_tokenizer.eos_token_id  # a real EOS
    assert batch["src_mask"][1, src_lengths[1] - 1].item() == 1
    labels = target_labels(batch["tgt_ids"], batch["tgt_mask"])
    assert torch.equal(labels == -100, batch["tgt_mask"] == 0)


def test_flores_pairs_from_a_local_folder(tmp_path):
    (tmp_path / "devtest").mkdir()
    (tmp_path / "devtest" / "eng_Latn.devtest").write_text("one\ntwo\n")
    (tmp_path / "devtest" / "swh_Latn.devtest").write_text("moja\nmbili\n")
    assert load_flores_pairs("eng", "swh", "devtest", validation_file=str(tmp_path)) == (["one", "two"],
                                                                                         ["moja", "mbili"])
    (tmp_path / "devtest" / "swh_Latn.devtest").write_text("moja\n")
    with pytest.raises(LangAdaptError, match="--validation_file .* must align"):
        load_flores_pairs("eng", "swh", "devtest", validation_file=str(tmp_path))


def test_srun_variables_become_torch_rendezvous_variables():
    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4(x2)",
           "SLURM_JOB_NODELIST": "gpu07,gpu08"}
    assert torch_env_from_slurm(env)
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"]) == ("3", "8", "1", "4")
    assert env["MASTER_ADDR"] == "gpu07" and env["MASTER_PORT"] == "29500"


def test_torchrun_and_single_tasks_are_left_alone():
    under_torchrun = {"RANK": "0", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}
    assert not torch_env_from_slurm(under_torchrun) and "MASTER_ADDR" not in under_torchrun
    assert not torch_env_from_slurm({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"})


SEED_COMMAND = """
--model_id MODEL --max_length 256 --dataset_name DATA --dataset_config eng-swh-100k --dataset_split train
--src eng --tgt swh --normalize_sense_pooling --normalize_last_token_embeds --add_lm_loss --learning_rate 5e-5
--train_batch_size 64 --test_batch_size 64 --warmup_ratio 0.02 --clip_grad_norm 1.0 --label_smoothing 0.05
--sense_pool_temp 0.7 --align_pct 0.20 --polish_pct 0.50 --w_ctx_align 0.45 --w_sns_align 0.55 --w_lm_align 0.02
--w_ctx_mid 0.40 --w_sns_mid 0.40 --w_lm_mid 0.20 --w_ctx_tail 0.15 --w_sns_tail 0.15 --w_lm_tail 0.70
--tau_ctx_start 0.07 --tau_ctx_end 0.07 --tau_sns_start 0.05 --tau_sns_end 0.05 --use_fp16 --max_steps 150000
--eval_every_n_steps 2000 --save_every 2000 --max_checkpoints 1 --log_every_n_steps 100 --resume_from_checkpoint
--save_dir OUT --use_wandb --wandb_run_name RUN --seed 1234
"""


def test_the_seed_command_line_parses_into_the_run_it_describes():
    import run_adaptation

    config = run_adaptation.config_from_args(run_adaptation.build_parser().parse_args(SEED_COMMAND.split()))
    assert config.schedule.polish_pct == 0.5 and config.schedule.tau_ctx_end == 0.07
    assert config.schedule.at(150_000, 150_000).w_lm == pytest.approx(0.70)
    assert (config.max_steps, config.max_checkpoints, config.save_every) == (150_000, 1, 2000)
    assert config.use_fp16 and config.resume_from_checkpoint and config.use_wandb and config.symmetric_infonce
    assert config.dataset_config == "eng-swh-100k" and config.sense_pool_temp == 0.7


def test_boolean_flags_have_no_forms():
    import run_adaptation

    args = run_adaptation.build_parser().parse_args(
        "--model_id M --dataset_name D --src eng --tgt swh --save_dir O --no-add_lm_loss --no-symmetric_infonce "
        "--no-use_fp16 --no-normalize_sense_pooling".split())
    config = run_adaptation.config_from_args(args)
    assert not (config.add_lm_loss or config.symmetric_infonce or config.use_fp16 or config.normalize_sense_pooling)
    assert config.schedule.at(1, 10).w_lm == 0.0  # the LM term is dropped from the schedule too
