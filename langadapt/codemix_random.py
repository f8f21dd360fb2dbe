"""Per-example random streams for code-mixing: reproducible, independent of batching, cheap in bulk.

Each example of each epoch draws from its own counter-based stream (SplitMix64 keyed by seed, epoch and
example index), so the mixing of an example depends on nothing else, and the draws of a whole batch of
examples come out of a few numpy operations.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from .word_index import GOLDEN, gather_spans

# One unsigned 32-bit draw per word, read from the random bytes.
DRAW_BYTES = 4


class RandomBytes(Protocol):
    """What the mixer draws from: `random.Random` or `ExampleRandom`."""

    def randbytes(self, n: int) -> bytes: ...


_WORD_MASK = (1 << 64) - 1


def splitmix64_output(state: np.ndarray) -> np.ndarray:
    """SplitMix64's output function: a bijection of 64-bit words in which every input bit flips about
    half of the output bits."""
    state = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    state = (state ^ (state >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state ^ (state >> np.uint64(31))


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
        key = _stream_keys(*(np.array([value], dtype=np.uint64) for value in (self.seed, self.epoch, self.index)))
        outputs = _stream_outputs(key, np.arange(start // 8, (self.read + 7) // 8, dtype=np.uint64))
        return outputs.astype("<u8").tobytes()[start % 8:start % 8 + n]


def _stream_keys(seeds: np.ndarray, epochs: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return splitmix64_output(splitmix64_output(splitmix64_output(seeds + GOLDEN) + epochs) + indices)


class ExampleStreams(Sequence[ExampleRandom]):
    """The streams of a batch of examples (`example_rng` of each), as arrays: what `example_draws` reads
    from without a Python object per example."""

    def __init__(self, seed: int, epochs: Sequence[int], indices: Sequence[int]):
        self.seeds = np.full(len(indices), seed & _WORD_MASK, dtype=np.uint64)
        self.epochs = np.asarray(epochs, dtype=np.int64).astype(np.uint64)
        self.indices = np.asarray(indices, dtype=np.int64).astype(np.uint64)
        self.read = np.zeros(len(indices), dtype=np.int64)  # bytes read from each so far

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        stream = ExampleRandom(int(self.seeds[i]), int(self.epochs[i]), int(self.indices[i]))
        stream.read = int(self.read[i])
        return stream


def _stream_outputs(keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Output `positions[i]` (from 0) of the stream keyed `keys[i]`."""
    return splitmix64_output(keys + (positions + np.uint64(1)) * GOLDEN)


def example_draws(rngs: Sequence[RandomBytes], counts: Sequence[int]) -> np.ndarray:
    """`counts[i]` unsigned 32-bit draws (4 little-endian bytes each) read on from each `rngs[i]`, one
    after another; computed for all examples at once for `ExampleStreams` and `ExampleRandom` streams."""
    if isinstance(rngs, ExampleStreams):
        streams = rngs
    elif all(type(rng) is ExampleRandom and rng.read % DRAW_BYTES == 0 for rng in rngs):
        streams = ExampleStreams(0, [rng.epoch for rng in rngs], [rng.index for rng in rngs])
        streams.seeds[:] = [rng.seed for rng in rngs]
        streams.read[:] = [rng.read for rng in rngs]
    else:
        return np.frombuffer(b"".join([rng.randbytes(DRAW_BYTES * count) for rng, count in zip(rngs, counts)]),
                             dtype="<u4")
    counts = np.asarray(counts, dtype=np.int64)
    first = streams.read // DRAW_BYTES
    streams.read += DRAW_BYTES * counts
    if streams is not rngs:
        for rng, read in zip(rngs, streams.read.tolist()):
            rng.read = read
    # Draws 2n and 2n + 1 of a stream are the low and high halves of its output n: compute each output
    # needed once, then pick each example's draws out of the halves.
    output_first = first // 2
    output_counts = (first + counts + 1) // 2 - output_first
    positions, output_bounds = gather_spans(output_first, output_counts)
    keys = _stream_keys(streams.seeds, streams.epochs, streams.indices)
    outputs = _stream_outputs(np.repeat(keys, output_counts), positions.astype(np.uint64))
    halves = outputs.astype("<u8").view("<u4")
    return halves.take(gather_spans(2 * output_bounds[:-1] + first % 2, counts)[0]).astype(np.uint32)


def example_rng(seed: int, epoch: int, index: int) -> ExampleRandom:
    """The per-example stream: same draws for the same (seed, epoch, example), new ones each epoch."""
    return ExampleRandom(seed, epoch, index)
