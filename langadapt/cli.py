"""Entry-point wrapper shared by the top-level scripts.

User errors (`LangAdaptError`) become a one-line message on stderr and exit status 2, instead of a
traceback that hides the one thing the user has to change; Ctrl-C and SIGTERM become one line saying where
the run stopped, and exit status 130 / 143.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from typing import Callable, Optional, Sequence

from .errors import LangAdaptError
from .run_folder import RunInterrupted, exit_interrupted, install_signal_handlers

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DefaultsOnceFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default shown once: not appended where the help already states it ("default: the model's")
    nor where there is none to show (None, an empty string)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, "", argparse.SUPPRESS) or "default" in text.lower():
            return text
        return super()._get_help_string(action)


class RawDescriptionDefaultsOnceFormatter(argparse.RawDescriptionHelpFormatter, DefaultsOnceFormatter):
    """DefaultsOnceFormatter, with the description's own line breaks kept (a list of analyses, say)."""


def make_parser(description: Optional[str], raw_description: bool = False, **kwargs) -> argparse.ArgumentParser:
    """Every script's parser: defaults shown once, and abbreviations refused, so a typo never matches another
    flag."""
    kwargs.setdefault("formatter_class", RawDescriptionDefaultsOnceFormatter if raw_description
                      else DefaultsOnceFormatter)
    return argparse.ArgumentParser(description=description, allow_abbrev=False, **kwargs)


def setup_logging(level: str | int = "INFO", log_file: Optional[str] = None) -> None:
    """Configure root logging once: stderr always, plus `log_file` when given."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    if isinstance(level, str):
        level = getattr(logging, level.upper(), None)
        if not isinstance(level, int):
            raise LangAdaptError("--log_level: unknown level; expected DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    quiet_libraries(level)


def quiet_libraries(level: int) -> None:
    """transformers' and datasets' own notes (tokenizer/config alignment, load reports, "sequence longer than
    the maximum", config dumps) only at DEBUG; at any other level only their errors. Our own log says what
    a run does; theirs, at the default level, buried it (and repeated on every resume)."""
    name = "debug" if level <= logging.DEBUG else "error"
    for library in ("transformers", "datasets"):
        os.environ[f"{library.upper()}_VERBOSITY"] = name  # read when the library is first imported
        if library in sys.modules:
            importlib.import_module(f"{library}.utils.logging").set_verbosity(getattr(logging, name.upper()))


def no_library_bars_off_terminal() -> None:
    """In a log file, the libraries' tqdm bars (weights loading, dataset maps, shard writing) would add a
    carriage-return run each; off a terminal they are switched off before the libraries are imported, and our
    own progress reports in lines (`langadapt.progress`)."""
    if not sys.stderr.isatty():
        for variable in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
            os.environ.setdefault(variable, "1")


def run_cli(main: Callable[[Optional[Sequence[str]]], object], argv: Optional[Sequence[str]] = None) -> None:
    """Run a script's `main`, turning user errors into `error: ...` and exit status 2."""
    install_signal_handlers()
    no_library_bars_off_terminal()
    try:
        result = main(argv)
    except LangAdaptError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        exit_interrupted(signal.SIGINT)
    except RunInterrupted as interruption:
        exit_interrupted(interruption.signum)
    sys.exit(result if isinstance(result, int) else 0)
