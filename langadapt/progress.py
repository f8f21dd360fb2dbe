"""Progress that suits where it goes: a tqdm bar on a terminal, and in a log file or a SLURM output one line
every `LANGADAPT_PROGRESS_SECONDS` (default 60) with the count, the rate, the ETA and the latest loss: tqdm's
carriage-return updates would otherwise land one per step in the file."""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Iterable, Optional

logger = logging.getLogger("langadapt.progress")


def _on_terminal() -> bool:
    return sys.stderr.isatty()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class LineProgress:
    """The part of tqdm's interface the project uses, reported as periodic log lines."""

    def __init__(self, iterable: Optional[Iterable] = None, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", initial: int = 0):
        self.iterable, self.desc, self.unit, self.n, self.initial = iterable, desc, unit, initial, initial
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total = total
        self.postfix = ""
        self.interval = float(os.environ.get("LANGADAPT_PROGRESS_SECONDS", "60"))
        self.start = self.last = time.monotonic()
        self.closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.interval:
            self._report()

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{key}={value}" for key, value in items.items())

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = text

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n > self.initial:
                self._report()

    def _report(self) -> None:
        now = time.monotonic()
        self.last = now
        rate = (self.n - self.initial) / max(now - self.start, 1e-9)
        count = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        parts = [f"{self.desc}: {count}", f"{rate:.3g} {self.unit}/s"]
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        if self.postfix:
            parts.append(self.postfix)
        logger.info(", ".join(parts))


def progress_bar(iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", initial: int = 0, disable: bool = False, leave: bool = True):
    """tqdm on a terminal, `LineProgress` elsewhere; a disabled one (another rank's, a quiet call) is tqdm's."""
    if disable or _on_terminal():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=disable, leave=leave)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial)
