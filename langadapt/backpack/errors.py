"""The project's one exception type for input the user can fix.

It is defined inside the Backpack package, which imports nothing else from langadapt, so the model files
that `save_pretrained` copies next to a checkpoint are self-contained; `langadapt.errors` re-exports it.
"""


class LangAdaptError(Exception):
    """Bad input or state the user can fix: the message names the flag or file and what was expected."""
