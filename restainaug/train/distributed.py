"""Process groups for ``torchrun``: gloo on CPU, NCCL on GPU; a no-op for a single process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from .._validate import resolve_device

__all__ = ["Distributed", "is_main_process", "process_rank", "setup_distributed"]


@dataclass
class Distributed:
    """Where this process stands in a (possibly single-process) run.

    Attributes:
        rank: global rank (0 logs and writes checkpoints).
        world: number of processes.
        local_rank: rank on this node (selects the GPU).
        device: the device of this process.
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """Whether a process group is in use."""
        return self.world > 1

    @property
    def main(self) -> bool:
        """Whether this is rank 0."""
        return self.rank == 0

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (in rank order), ``None`` elsewhere."""
        if not self.enabled:
            return [obj]
        out: list[Any] | None = [None] * self.world if self.main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def barrier(self) -> None:
        """Wait for every process (no-op without a process group)."""
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """Destroy the process group this module created."""
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def process_rank() -> int:
    """The global rank of this process as ``torchrun`` sets it (``RANK``); 0 without it."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Whether this process is rank 0, the one that logs, writes and reports (or the only one).

    Examples:
        >>> import os
        >>> is_main_process() == (os.environ.get("RANK", "0") == "0")
        True
    """
    return process_rank() == 0


def setup_distributed(requested_device: str = "auto") -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    ``WORLD_SIZE`` > 1 starts a group (NCCL when this process uses a GPU, gloo otherwise);
    each process takes GPU ``LOCAL_RANK``. Without ``torchrun`` this returns a single-process
    `Distributed`.

    Args:
        requested_device: ``run.device`` of the config.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = process_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(requested_device, "run.device")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, world, local_rank, device)
