"""Shared test setup: offline hub, no W&B, and tiny local models built from configs."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

# A little text in several languages and scripts, enough to train a byte-level BPE for tests.
TOKENIZER_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "A house is a building where people live with their families.",
    "Nyumba ni jengo ambapo watu wanaishi na familia zao.",
    "Maja on hoone, kus inimesed elavad koos oma peredega.",
    "Rumah adalah bangunan tempat orang tinggal bersama keluarga mereka.",
    "Ev, insanların aileleriyle birlikte yaşadığı bir binadır.",
    "घर एक इमारत है जहाँ लोग अपने परिवार के साथ रहते हैं।",
    "Ένα σπίτι είναι ένα κτίριο όπου ζουν άνθρωποι με τις οικογένειές τους.",
    "บ้านคืออาคารที่ผู้คนอาศัยอยู่กับครอบครัว",
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    "### Instruction:\n### Input:\n### Response:\n",
    "Background: Question: Answer: because therefore",
] * 4


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from langadapt.toy_models import train_byte_bpe_tokenizer

    return train_byte_bpe_tokenizer(TOKENIZER_TEXT, vocab_size=400)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, tiny_tokenizer):
    from langadapt.toy_models import save_tiny_model, tiny_gpt2_config

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    return save_tiny_model(tiny_gpt2_config(len(tiny_tokenizer)), tiny_tokenizer, folder)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_tokenizer):
    from langadapt.toy_models import save_tiny_model, tiny_llama_config

    folder = tmp_path_factory.mktemp("tiny-llama")
    return save_tiny_model(tiny_llama_config(len(tiny_tokenizer)), tiny_tokenizer, folder)


@pytest.fixture(scope="session")
def tiny_backpack_dir(tmp_path_factory, tiny_tokenizer):
    from langadapt.toy_models import save_tiny_model, tiny_backpack_config

    folder = tmp_path_factory.mktemp("tiny-backpack")
    return save_tiny_model(tiny_backpack_config(len(tiny_tokenizer)), tiny_tokenizer, folder)
