"""Sense-adaptation data plumbing: translation keys, batches and masks, FLORES pairs, SLURM variables."""
import pytest
import torch

from langadapt.errors import LangAdaptError
from langadapt.sense_adaptation.data import (PairCollator, TokenizedPairs, load_flores_pairs, target_labels,
                                             translation_key)
from langadapt.sense_adaptation.distributed import torch_env_from_slurm


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
