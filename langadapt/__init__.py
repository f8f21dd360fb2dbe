"""langadapt: adapt English-centric language models to other languages.

Importing the package registers the Backpack model with transformers' Auto classes (when transformers is
imported, so that importing langadapt alone stays cheap): `AutoModelForCausalLM` and every script here load
Backpack checkpoints without `trust_remote_code`.
"""
from .backpack import register_with_transformers

register_with_transformers()

__version__ = "0.1.0"
