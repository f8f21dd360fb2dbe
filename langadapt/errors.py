"""One exception type for input the user can fix, so every CLI reports it the same way."""


class LangAdaptError(Exception):
    """Bad input or state the user can fix: the message names the flag or file and what was expected."""
