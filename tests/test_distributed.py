"""Tests of FeatureTransform under DistributedDataParallel, with two CPU processes on the gloo backend."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import augspace as A

WORLD_SIZE = 2


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_rank(rank: int, port: int, output_dir: str, attach_before_wrapping: bool) -> None:
    """Hook Cutout onto layer "2", wrap in DDP before or after, and save the hooked names and one output."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        model = small_net()
        cutout = A.Cutout(size=0.5, generator=torch.Generator().manual_seed(1))
        if attach_before_wrapping:
            features = A.FeatureTransform(model, {"2": cutout})
            wrapped = DistributedDataParallel(model)
        else:
            wrapped = DistributedDataParallel(model)
            features = A.FeatureTransform(wrapped, {"2": cutout})
        output = wrapped(torch.ones(4, 3, 8, 8))
        output.sum().backward()
        torch.save({"layers": list(features.layers), "output": output.detach()}, Path(output_dir) / f"{rank}.pt")
    finally:
        dist.destroy_process_group()


def launch(output_dir: Path, attach_before_wrapping: bool) -> list[dict]:
    output_dir.mkdir(parents=True)
    port = free_loopback_port()
    mp.spawn(run_rank, args=(port, str(output_dir), attach_before_wrapping), nprocs=WORLD_SIZE, join=True)
    return [torch.load(output_dir / f"{rank}.pt") for rank in range(WORLD_SIZE)]


@pytest.mark.slow
@pytest.mark.parametrize("attach_before_wrapping", [True, False], ids=["attach-then-wrap", "wrap-then-attach"])
def test_ddp_ranks_resolve_same_layers_and_draw_own_streams(tmp_path: Path, attach_before_wrapping: bool) -> None:
    first = launch(tmp_path / "first", attach_before_wrapping)
    second = launch(tmp_path / "second", attach_before_wrapping)

    assert first[0]["layers"] == ["2"]
    assert first[1]["layers"] == ["2"]
    # The same input on both ranks: different outputs mean each rank drew its own boxes.
    assert not torch.equal(first[0]["output"], first[1]["output"])
    for rank in range(WORLD_SIZE):
        assert torch.equal(first[rank]["output"], second[rank]["output"]), f"rank {rank} is not reproducible"
