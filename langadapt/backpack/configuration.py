"""Backpack-GPT2 configuration: GPT-2's fields plus the sense network's, and the one place that tells a
Backpack config (in either published format) from any other."""
from __future__ import annotations

import logging
from typing import Optional

from transformers import GPT2Config

from .errors import LangAdaptError
from .sense_path import check_sense_path

logger = logging.getLogger(__name__)

BACKPACK_ARCHITECTURE = "BackpackGPT2LMHeadModel"
OUR_FORMAT, STANFORD_FORMAT = "langadapt", "stanfordnlp"


def backpack_format(config_dict: dict) -> Optional[str]:
    """"langadapt" (`model_type` backpack-gpt2), "stanfordnlp" (`model_type` gpt2 with the Backpack
    architecture, as `stanfordnlp/backpack-gpt2`), or None for a config that is not a Backpack's."""
    if config_dict.get("model_type") == BackpackGPT2Config.model_type:
        return OUR_FORMAT
    if BACKPACK_ARCHITECTURE in (config_dict.get("architectures") or []):
        return STANFORD_FORMAT
    return None


def is_backpack_config_dict(config_dict: dict) -> bool:
    return backpack_format(config_dict) is not None


def backpack_config_from_dict(config_dict: dict, source: str = "config", **kwargs):
    """A BackpackGPT2Config from a raw config dict of either format (with `return_unused_kwargs` in kwargs,
    the pair `from_dict` returns). The stanfordnlp format's `auto_map` points at the hub's modeling code,
    which is never executed: it is dropped, and the model is ours."""
    found = backpack_format(config_dict)
    if found is None:
        raise LangAdaptError(f"{source} is not a Backpack checkpoint: its config has model_type "
                             f"{config_dict.get('model_type')!r} and architectures {config_dict.get('architectures')}")
    drop = ("model_type", "auto_map") if found == STANFORD_FORMAT else ("model_type",)
    fields = {k: v for k, v in config_dict.items() if k not in drop}
    fields["architectures"] = [BACKPACK_ARCHITECTURE]
    logger.info("%s: recognised a Backpack config in the %s format", source, found)
    return BackpackGPT2Config.from_dict(fields, **kwargs)


class BackpackGPT2Config(GPT2Config):
    model_type = "backpack-gpt2"

    def __init__(self, num_senses: int = 16, sense_intermediate_scale: int = 4, sense_path: str = "auto", **kwargs):
        self.num_senses = num_senses
        self.sense_intermediate_scale = sense_intermediate_scale
        self.sense_path = check_sense_path(sense_path)  # saved with the weights: a resume computes the same path
        super().__init__(**kwargs)
        if self.n_embd % num_senses:
            raise LangAdaptError(f"n_embd ({self.n_embd}) must be divisible by num_senses ({num_senses})")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Read either checkpoint format; refuse configs that are not a Backpack's."""
        return_unused = kwargs.pop("return_unused_kwargs", False)
        config_dict, kwargs = cls.get_config_dict(pretrained_model_name_or_path, **kwargs)
        return backpack_config_from_dict(config_dict, str(pretrained_model_name_or_path),
                                         return_unused_kwargs=return_unused, **kwargs)
