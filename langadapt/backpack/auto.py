"""Registration with transformers' Auto classes, for both checkpoint formats.

Our format (`model_type` backpack-gpt2) maps to our classes like any registered model type. The stanfordnlp
format says `model_type` gpt2, for which `AutoConfig` would build a plain GPT2Config and
`AutoModelForCausalLM` a randomly initialised GPT-2; `AutoConfig.from_pretrained` is therefore wrapped to
turn a config naming the Backpack architecture into a BackpackGPT2Config, which the Auto model classes then
map to our model (remote code is never involved). Both classes are also registered for auto classes, so
`save_pretrained` copies their (self-contained) files next to the weights with an `auto_map`: the
checkpoint then loads with plain transformers and `trust_remote_code=True` where langadapt is absent.
"""
from __future__ import annotations

import functools
import logging

from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config

from .configuration import OUR_FORMAT, BackpackGPT2Config, backpack_config_from_dict, backpack_format
from .modeling import BackpackGPT2LMHeadModel

logger = logging.getLogger(__name__)


def as_backpack_if_stanford(config):
    """A GPT2Config that carries the stanfordnlp Backpack architecture becomes a BackpackGPT2Config; the
    log says which format a Backpack config was recognised in."""
    if type(config) is GPT2Config and backpack_format(config.to_dict()) is not None:
        return backpack_config_from_dict(config.to_dict(), config.name_or_path or "config")
    if isinstance(config, BackpackGPT2Config):
        logger.info("%s: recognised a Backpack config in the %s format", config.name_or_path or "config", OUR_FORMAT)
    return config


def _recognise_stanford_format(from_pretrained):
    @functools.wraps(from_pretrained)
    def wrapper(cls, *args, **kwargs):
        result = from_pretrained(cls, *args, **kwargs)
        if isinstance(result, tuple):  # return_unused_kwargs=True
            return (as_backpack_if_stanford(result[0]), *result[1:])
        return as_backpack_if_stanford(result)

    wrapper.recognises_stanford_backpacks = True
    return wrapper


def register() -> None:
    AutoConfig.register(BackpackGPT2Config.model_type, BackpackGPT2Config, exist_ok=True)
    AutoModelForCausalLM.register(BackpackGPT2Config, BackpackGPT2LMHeadModel, exist_ok=True)
    BackpackGPT2Config.register_for_auto_class()
    BackpackGPT2LMHeadModel.register_for_auto_class("AutoModelForCausalLM")
    original = AutoConfig.__dict__["from_pretrained"].__func__
    if not getattr(original, "recognises_stanford_backpacks", False):
        AutoConfig.from_pretrained = classmethod(_recognise_stanford_format(original))
