"""Backpack-GPT2 configuration: GPT-2's fields plus the sense network's."""
from __future__ import annotations

from transformers import GPT2Config

from ..errors import LangAdaptError

BACKPACK_ARCHITECTURE = "BackpackGPT2LMHeadModel"


def is_backpack_config_dict(config_dict: dict) -> bool:
    """True for our format (`model_type` backpack-gpt2) and stanfordnlp's (`gpt2` + Backpack architecture)."""
    return config_dict.get("model_type") == BackpackGPT2Config.model_type or \
        BACKPACK_ARCHITECTURE in (config_dict.get("architectures") or [])


class BackpackGPT2Config(GPT2Config):
    model_type = "backpack-gpt2"

    def __init__(self, num_senses: int = 16, sense_intermediate_scale: int = 4, **kwargs):
        self.num_senses = num_senses
        self.sense_intermediate_scale = sense_intermediate_scale
        kwargs.pop("auto_map", None)  # the hub's remote-code pointers: we never execute them
        super().__init__(**kwargs)
        if self.n_embd % num_senses:
            raise LangAdaptError(f"n_embd ({self.n_embd}) must be divisible by num_senses ({num_senses})")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Read either checkpoint format; refuse configs that are not a Backpack's."""
        return_unused = kwargs.pop("return_unused_kwargs", False)
        config_dict, kwargs = cls.get_config_dict(pretrained_model_name_or_path, **kwargs)
        if not is_backpack_config_dict(config_dict):
            raise LangAdaptError(
                f"{pretrained_model_name_or_path} is not a Backpack checkpoint: its config has model_type "
                f"{config_dict.get('model_type')!r} and architectures {config_dict.get('architectures')}")
        config_dict = {k: v for k, v in config_dict.items() if k not in ("model_type", "auto_map")}
        config_dict["architectures"] = [BACKPACK_ARCHITECTURE]
        return cls.from_dict(config_dict, return_unused_kwargs=return_unused, **kwargs)
