"""Ordered parallel map with a bounded number of chunks in flight.

`multiprocessing.Pool.imap` reads its whole input ahead when workers are slower than the reader, which
would hold a corpus in memory; here at most `2 * num_proc` chunks are queued at any time, and results
come back in input order so the output file is the same whatever `num_proc` is.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from typing import Callable, Iterable, Iterator, Optional, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def worker_count(requested: int) -> int:
    """`requested`, or for 0 one per free core: cores this process may run on (its CPU affinity, what SLURM
    or taskset grant) less the machine's load, so a busy machine gets no workers that would only contend."""
    if requested > 0:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    free = min(cores, (os.cpu_count() or 1) - os.getloadavg()[0])
    return max(1, round(free))


def ordered_map(func: Callable[[In], Out], items: Iterable[In], num_proc: int,
                initializer: Optional[Callable] = None, initargs: tuple = ()) -> Iterator[Out]:
    """`map(func, items)` over `num_proc` spawned workers (in-process when num_proc <= 1)."""
    if num_proc <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(func, items)
        return
    # Not fork: a process that has started threads (torch, tokenizers, a test runner's) can be forked while
    # one of them holds a lock, and the worker then waits on it forever (seen under pytest). A forkserver
    # starts once from a fresh interpreter and forks workers from there; the language-id code it imports
    # does not import torch.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with context.Pool(num_proc, initializer=initializer, initargs=initargs) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.apply_async(func, (item,)))
            if len(pending) >= 2 * num_proc:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
