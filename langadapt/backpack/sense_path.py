"""Which formulation of the sense layer runs: a fixed rule of device and shape, never a stopwatch.

The two formulations compute the same numbers up to float rounding (tests hold them to 1e-5), but not the
same bits: a run, its resume in a new process and every DDP rank must take the same one, so the choice is a
pure function of what they share (device type, widths, sequence length) and of the config's `sense_path`
("auto", "fused" or "eager"), which `save_pretrained` writes into config.json.

The rule comes from timing the layer alone (forward + backward and forward only, one thread, 16 senses,
fused/eager time; the same ratios held for both):
- CUDA and other accelerators: fused. The eager path materialises [B, K, L, L] weights, which fused kernels
  never do; `benchmarks/gpu_check.py` measures both on a GPU.
- CPU, value width above the widest fused head (256; the real model's 768): fused runs one SDPA head per
  sense with the full width, 0.94 / 0.89 of the eager time at L = 512 and 0.78 / 1.02 at L = 128.
- CPU, narrower values: fused pads each key to the value width. That pays at width 64 (0.41 / 0.20 at
  L = 512) and at width 128 from L = 256 on (0.75 / 0.70 at L = 512, but 1.68 / 1.42 at L = 128); from
  width 192 eager is faster (1.36 / 1.40 at 192, 1.56 / 1.19 at 256, L = 512).
"""
from __future__ import annotations

from .errors import LangAdaptError

PATHS = ("fused", "eager")
CHOICES = ("auto",) + PATHS
MAX_FUSED_HEAD_DIM = 256  # the widest head fused kernels (FlashAttention, CPU flash) take


def check_sense_path(value: str) -> str:
    if value not in CHOICES:
        raise LangAdaptError(f"sense_path {value!r}: expected one of {', '.join(CHOICES)}")
    return value


def sense_path_for(setting: str, device_type: str, width: int, length: int) -> str:
    """The path for a sense layer with `width`-wide values over `length` query positions on `device_type`."""
    if check_sense_path(setting) != "auto":
        return setting
    if device_type != "cpu" or width > MAX_FUSED_HEAD_DIM or width <= 64:
        return "fused"
    return "fused" if width <= 128 and length >= 256 else "eager"
