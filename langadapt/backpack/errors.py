"""The project's one exception type for input the user can fix.

It is defined inside the Backpack package, which imports nothing else from langadapt, so the model files
that `save_pretrained` copies next to a checkpoint are self-contained; `langadapt.errors` re-exports it.
"""


class LangAdaptError(Exception):
    """Bad input or state the user can fix: the message names the flag or file and what was expected."""


class VocabularyError(LangAdaptError, ValueError):
    """A token or label id outside the model's vocabulary: a ValueError for library callers, and the CLIs'
    one-line error for a tokenizer or dataset that does not match the model."""
