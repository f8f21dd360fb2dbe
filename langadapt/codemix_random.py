"""Per-example random streams for code-mixing: reproducible, independent of batching, cheap in bulk.

Each example of each epoch draws from its own counter-based stream (SplitMix64 keyed by seed, epoch and
example index), so the mixing of an example depends on nothing else, and the draws of a whole batch of
examples come out of a few numpy operations.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from .word_index import GOLDEN, gather_spans, splitmix64_output

# One unsigned 32-bit draw per word, read from the random bytes.
DRAW_BYTES = 4


class RandomBytes(Protocol):
    """What the mixer draws from: `random.Random` or `ExampleRandom`."""

    def randbytes(self, n: int) -> bytes: ...


_WORD_MASK = (1 << 64) - 1


class ExampleRandom:
    """The random bytes of one example, read in order: the SplitMix64 stream whose state starts at a key
    mixed from (seed, epoch, index); its 64-bit outputs are laid out little-endian.

    The stream is counter-based (output n is a function of the key and n alone), so the mixer computes
    the draws of a whole batch of examples in a few numpy operations (`example_draws`) instead of one
    generator call per example, and starting one costs next to nothing; one is started per example."""

    __slots__ = ("seed", "epoch", "index", "read")

    def __init__(self, seed: int, epoch: int, index: int):
        self.seed, self.epoch, self.index = seed & _WORD_MASK, epoch & _WORD_MASK, index & _WORD_MASK
        self.read = 0  # bytes read so far

    def randbytes(self, n: int) -> bytes:
        start, self.read = self.read, self.read + n
        outputs = _stream_outputs(_stream_keys([self]), np.arange(start // 8, (self.read + 7) // 8, dtype=np.uint64))
        return outputs.astype("<u8").tobytes()[start % 8:start % 8 + n]


def _stream_keys(rngs: Sequence[ExampleRandom]) -> np.ndarray:
    seeds, epochs, indices = (np.array(values, dtype=np.uint64)
                              for values in zip(*[(rng.seed, rng.epoch, rng.index) for rng in rngs]))
    return splitmix64_output(splitmix64_output(splitmix64_output(seeds + GOLDEN) + epochs) + indices)


def _stream_outputs(keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Output `positions[i]` (from 0) of the stream keyed `keys[i]`."""
    return splitmix64_output(keys + (positions + np.uint64(1)) * GOLDEN)


def example_draws(rngs: Sequence[RandomBytes], counts: Sequence[int]) -> np.ndarray:
    """`counts[i]` unsigned 32-bit draws (4 little-endian bytes each) read on from each `rngs[i]`, one
    after another; computed for all examples at once when they are `ExampleRandom` streams."""
    if not all(type(rng) is ExampleRandom and rng.read % DRAW_BYTES == 0 for rng in rngs):
        return np.frombuffer(b"".join([rng.randbytes(DRAW_BYTES * count) for rng, count in zip(rngs, counts)]),
                             dtype="<u4")
    counts = np.asarray(counts, dtype=np.int64)
    first = np.array([rng.read // DRAW_BYTES for rng in rngs], dtype=np.int64)
    for rng, count in zip(rngs, counts.tolist()):
        rng.read += DRAW_BYTES * count
    # Draws 2n and 2n + 1 of a stream are the low and high halves of its output n: compute each output
    # needed once, then pick each example's draws out of the halves.
    output_first = first // 2
    output_counts = (first + counts + 1) // 2 - output_first
    positions, output_bounds = gather_spans(output_first, output_counts)
    outputs = _stream_outputs(np.repeat(_stream_keys(rngs), output_counts), positions.astype(np.uint64))
    halves = outputs.astype("<u8").view("<u4")
    return halves.take(gather_spans(2 * output_bounds[:-1] + first % 2, counts)[0]).astype(np.uint32)


def example_rng(seed: int, epoch: int, index: int) -> ExampleRandom:
    """The per-example stream: same draws for the same (seed, epoch, example), new ones each epoch."""
    return ExampleRandom(seed, epoch, index)
