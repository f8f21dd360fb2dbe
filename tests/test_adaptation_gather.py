"""All-gather with gradient: two gloo processes must produce the single-process gradient of one global
InfoNCE over the whole batch (negatives spanning both ranks)."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from langadapt.sense_adaptation.losses import gather_with_grad, info_nce

WORLD = 2
ROWS = 3


def shared_inputs():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 5, generator=generator)
    src = torch.randn(WORLD * ROWS, 5, generator=generator)
    tgt = torch.randn(WORLD * ROWS, 5, generator=generator)
    return weight, src, tgt


def single_process_gradient():
    weight, src, tgt = shared_inputs()
    weight.requires_grad_(True)
    info_nce(src @ weight.T, tgt @ weight.T, 0.1).backward()
    return weight.grad


def worker(rank, port, result_file):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        weight, src, tgt = shared_inputs()
        weight.requires_grad_(True)
        rows = slice(rank * ROWS, (rank + 1) * ROWS)
        q = gather_with_grad(src[rows] @ weight.T)
        k = gather_with_grad(tgt[rows] @ weight.T)
        assert q.size(0) == WORLD * ROWS
        info_nce(q, k, 0.1).backward()
        grad = weight.grad.clone()
        dist.all_reduce(grad)  # what DDP does: average the ranks' gradients
        grad /= WORLD
        torch.save(grad, f"{result_file}.{rank}")
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_gathered_info_nce_gradient_equals_the_global_batch_gradient(tmp_path):
    result = str(tmp_path / "grad")
    mp.spawn(worker, args=(free_port(), result), nprocs=WORLD, join=True)
    expected = single_process_gradient()
    for rank in range(WORLD):
        grad = torch.load(f"{result}.{rank}", weights_only=True)
        assert torch.allclose(grad, expected, atol=1e-6), (rank, grad, expected)


def test_gather_is_identity_without_a_process_group():
    x = torch.randn(2, 3)
    assert gather_with_grad(x) is x
