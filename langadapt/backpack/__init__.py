"""Backpack-GPT2, registered with transformers' Auto classes on import (both checkpoint formats)."""
from .auto import register
from .configuration import BackpackGPT2Config, backpack_format, is_backpack_config_dict
from .modeling import BackpackGPT2LMHeadModel, BackpackGPT2Model, BackpackGPT2Output

register()

__all__ = ["BackpackGPT2Config", "BackpackGPT2LMHeadModel", "BackpackGPT2Model", "BackpackGPT2Output",
           "backpack_format", "is_backpack_config_dict"]
