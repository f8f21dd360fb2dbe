"""Which formulation of the sense layer runs: measured on the machine, per device and shape, not assumed.

The fused (SDPA) path is 1.6x faster than the eager one at width 64 on CPU but 0.85x at width 768, and
GPUs differ again, so no fixed default is right everywhere. The first time a shape class is seen, both
paths run on the real tensors (forward, plus backward when gradients are on) and the faster one is kept
for every later call of that class; the choice is logged once. The two paths compute the same numbers
(tests hold them to 1e-5), so the choice changes speed only, apart from float rounding: a rerun that must
be bit-identical (an exact resume in another process, say) pins one with LANGADAPT_SENSE_PATH=fused|eager.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, Hashable

import torch

from .errors import LangAdaptError

logger = logging.getLogger(__name__)

PATHS = ("fused", "eager")
PIN_VARIABLE = "LANGADAPT_SENSE_PATH"
# Rounds of one call per path, alternating, so a burst of load from elsewhere hits both paths alike; the first
# round warms caches, kernels and the allocator up, and each path's fastest later call counts. (Two timed calls
# of one path and then two of the other misjudged a 6% difference at width 768 on a quiet machine.)
WARM_UP_ROUNDS, TIMED_ROUNDS = 1, 3


def shape_class(query: torch.Tensor, values: torch.Tensor) -> tuple:
    """Device, dtype, training or not, senses, widths, and the lengths rounded up to a power of two:
    eval batches vary in length, and re-measuring each would cost more than it saves."""
    batch, senses, length, key_dim = query.shape
    bucket = 1 << max(length - 1, 0).bit_length()
    total = 1 << max(values.shape[2] - 1, 0).bit_length()
    return (query.device.type, query.dtype, torch.is_grad_enabled(), senses, key_dim, values.shape[-1], bucket,
            total, batch)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(run: Callable[[], torch.Tensor], device: torch.device) -> float:
    """Wall time of one `run()` (its forward, and a backward through it when it builds a graph)."""
    _synchronize(device)
    start = time.perf_counter()
    out = run()
    if out.requires_grad:
        out.sum().backward()
    _synchronize(device)
    return time.perf_counter() - start


class SensePathChooser:
    """Remembers the faster path per shape class; `timer` is injectable so the rule itself is testable."""

    def __init__(self, timer: Callable[[Callable[[], torch.Tensor], torch.device], float] = time_call):
        self.timer = timer
        self.choices: dict[Hashable, str] = {}

    def measure(self, runs: dict[str, Callable[[], torch.Tensor]], device: torch.device) -> dict[str, float]:
        """Each path's fastest call over the timed rounds."""
        best = dict.fromkeys(PATHS, float("inf"))
        for round_index in range(WARM_UP_ROUNDS + TIMED_ROUNDS):
            for path in PATHS:
                seconds = self.timer(runs[path], device)
                if round_index >= WARM_UP_ROUNDS:
                    best[path] = min(best[path], seconds)
        return best

    def choose(self, key: Hashable, timing_runs: Callable[[], dict[str, Callable[[], torch.Tensor]]],
               device: torch.device) -> str:
        """The path for `key`; on a new key, `timing_runs()` gives each path as a call on detached copies."""
        pinned = os.environ.get(PIN_VARIABLE, "auto")
        if pinned in PATHS:
            return pinned
        if pinned != "auto":
            raise LangAdaptError(f"{PIN_VARIABLE}={pinned}: expected auto, fused or eager")
        if key not in self.choices:
            seconds = self.measure(timing_runs(), device)
            self.choices[key] = min(PATHS, key=seconds.__getitem__)
            device_type, dtype, training, senses, _, width, length, _, batch = key
            logger.info("Backpack sense layer on %s (%s, %s; width %d, %d senses, batch %d, length <= %d): %s "
                        "path (fused %.2f ms, eager %.2f ms per call)", device_type, str(dtype).replace("torch.", ""),
                        "training" if training else "inference", width, senses, batch, length, self.choices[key],
                        seconds["fused"] * 1e3, seconds["eager"] * 1e3)
        return self.choices[key]


CHOOSER = SensePathChooser()
