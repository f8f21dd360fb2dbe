"""langadapt: adapt English-centric language models to other languages.

Importing the package registers the Backpack model with transformers' Auto classes, so
`AutoModelForCausalLM` and every script here load Backpack checkpoints without `trust_remote_code`.
"""
from . import backpack  # noqa: F401  (registration side effect)

__version__ = "0.1.0"
