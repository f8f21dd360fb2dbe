"""One exception type for input the user can fix, so every CLI reports it the same way."""
from .backpack.errors import LangAdaptError

__all__ = ["LangAdaptError"]
