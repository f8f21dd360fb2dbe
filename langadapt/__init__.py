"""langadapt: adapt English-centric language models to other languages."""

__version__ = "0.1.0"
