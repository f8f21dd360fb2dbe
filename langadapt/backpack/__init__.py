"""Backpack-GPT2, registered with transformers' Auto classes on import."""
from transformers import AutoConfig, AutoModelForCausalLM

from .configuration import BackpackGPT2Config, is_backpack_config_dict
from .modeling import BackpackGPT2LMHeadModel, BackpackGPT2Model, BackpackGPT2Output

AutoConfig.register(BackpackGPT2Config.model_type, BackpackGPT2Config, exist_ok=True)
AutoModelForCausalLM.register(BackpackGPT2Config, BackpackGPT2LMHeadModel, exist_ok=True)

__all__ = ["BackpackGPT2Config", "BackpackGPT2LMHeadModel", "BackpackGPT2Model", "BackpackGPT2Output",
           "is_backpack_config_dict"]
