"""Training throughput for the logs: tokens/s over real (non-padding) tokens and, on a known GPU, MFU.

Model FLOPs of a training step (forward + backward = 3 x forward, as nanoGPT and the PaLM paper count):

    6 * N * tokens  +  12 * L * d * sum over rows of n_row**2   (+ 6 * (k + 1) * d * sum n_row**2, Backpacks)

N is the parameters that multiply every token's activations: all of them except embedding lookup tables
(position, token), with the output layer counted once even when it shares the token table. The second term
is causal self-attention's scores and weighted sum (PaLM's 12*L*H*Q*T with H*Q = d, no causal halving), for
a row of n real tokens per token at context n. A Backpack (k senses) adds its sense weights' scores (2*d*n
per token forward) and the weighted sum of k sense vectors (2*k*d*n). MFU is those FLOPs per second over the
peak of all devices at the training precision (dense tensor-core figures from the vendors' data sheets;
fp32 is the plain, non-TF32 peak, as torch's default matmul precision uses).
"""
from __future__ import annotations

import logging
import time
from typing import Optional

import torch

logger = logging.getLogger(__name__)

# (substrings that must all occur in torch.cuda.get_device_name(), {precision: dense peak FLOP/s}); first match wins
PEAK_FLOPS = (
    (("H200",), {"bf16": 989.4e12, "fp16": 989.4e12, "fp32": 66.9e12}),
    (("H100", "PCIe"), {"bf16": 756.5e12, "fp16": 756.5e12, "fp32": 51.2e12}),
    (("H100", "NVL"), {"bf16": 835.5e12, "fp16": 835.5e12, "fp32": 60.0e12}),
    (("H100",), {"bf16": 989.4e12, "fp16": 989.4e12, "fp32": 66.9e12}),  # SXM5 ("H100 80GB HBM3")
    (("A100",), {"bf16": 312e12, "fp16": 312e12, "fp32": 19.5e12}),
    (("L40S",), {"bf16": 362.05e12, "fp16": 362.05e12, "fp32": 91.6e12}),
    (("L4",), {"bf16": 121e12, "fp16": 121e12, "fp32": 30.3e12}),
    (("A10",), {"bf16": 125e12, "fp16": 125e12, "fp32": 31.2e12}),
    (("V100",), {"fp16": 125e12, "fp32": 15.7e12}),
)


def device_peak_flops(device, precision: str) -> tuple[Optional[float], str]:
    """(peak FLOP/s of one `device` at `precision` ("bf16", "fp16", "fp32"), why None when unknown)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None, f"no MFU on {device.type}: peaks are known for CUDA GPUs only"
    name = torch.cuda.get_device_name(device)
    for parts, peaks in PEAK_FLOPS:
        if all(part in name for part in parts):
            if precision in peaks:
                return peaks[precision], name
            return None, f"no MFU: {name} has no {precision} peak in the table"
    return None, f"no MFU: {name} is not in the table of known GPUs' peaks"


def matmul_parameters(model: torch.nn.Module) -> int:
    """N of the module docstring: every parameter except embedding tables, the output layer counted once."""
    seen = {id(p): p for p in model.parameters()}
    tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head = id(output.weight) if output is not None and id(output.weight) in tables else None
    return sum(p.numel() for key, p in seen.items() if key not in tables or key == head)


def _config_int(config, *names: str) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return 0


class StepFlops:
    """Model FLOPs of training on rows of given real lengths, for one model (see the module docstring)."""

    def __init__(self, model: torch.nn.Module):
        config = getattr(model, "config", None)
        self.parameters = matmul_parameters(model)
        layers = _config_int(config, "num_hidden_layers", "n_layer")
        width = _config_int(config, "hidden_size", "n_embd")
        senses = _config_int(config, "num_senses")
        self.per_square = 12 * layers * width + (6 * (senses + 1) * width if senses else 0)

    def __call__(self, tokens: int, square_sum: int) -> float:
        """`tokens` real tokens in rows whose real lengths' squares sum to `square_sum`."""
        return 6.0 * self.parameters * tokens + float(self.per_square) * square_sum


def row_lengths(mask: torch.Tensor) -> tuple[int, int]:
    """(real tokens, sum of squared real row lengths) of a [rows, length] attention mask."""
    lengths = mask.sum(-1).long()
    return int(lengths.sum()), int((lengths * lengths).sum())


class Throughput:
    """Real tokens and model FLOPs since the last report; `report()` gives the window's rates."""

    def __init__(self, model: torch.nn.Module, device, precision: str, world_size: int = 1, clock=time.perf_counter):
        self.flops = StepFlops(model)
        self.peak, why = device_peak_flops(device, precision)
        if self.peak is not None:
            self.peak *= world_size
        elif torch.device(device).type == "cuda":
            logger.warning("%s: the logs give tokens/s only", why)
        self.clock = clock
        self.start, self.tokens, self.model_flops = clock(), 0, 0.0

    def add(self, tokens: int, square_sum: int) -> None:
        """Count one step's real tokens (summed over all processes) and their squared row lengths."""
        self.tokens += tokens
        self.model_flops += self.flops(tokens, square_sum)

    def report(self) -> dict[str, Optional[float]]:
        """{"tokens_per_second", "mfu"} of the window since the last report (mfu None without a known peak)."""
        now = self.clock()
        seconds = max(now - self.start, 1e-9)
        rates = {"tokens_per_second": self.tokens / seconds,
                 "mfu": self.model_flops / seconds / self.peak if self.peak else None}
        self.start, self.tokens, self.model_flops = now, 0, 0.0
        return rates


def rate_postfix(rates: dict[str, Optional[float]]) -> dict[str, str]:
    """The progress line's share of `report()`: tok/s, and mfu where known."""
    shown = {"tok/s": f"{rates['tokens_per_second']:.4g}"}
    if rates.get("mfu") is not None:
        shown["mfu"] = f"{100 * rates['mfu']:.1f}%"
    return shown
