"""Which items make up each step's batch: `StepBatches` and `TrainPatches`.

The batch of process ``rank`` at step ``s`` is a pure function of ``(seed, s, rank)``, so
resuming at step ``s`` or adding worker processes never changes what a run sees.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler

__all__ = ["StepBatches", "TrainPatches"]


class StepBatches(Sampler[list[int]]):
    """Batches of dataset indices for steps ``start..steps-1`` of process ``rank``.

    Index ``i`` of the batch of process ``r`` at step ``s`` is
    ``(s * world + r) * batch_size + i``: every process sees different patches (sharded
    sampling), and the stream depends only on the step, not on where a run was resumed.

    Examples:
        >>> list(StepBatches(start=1, steps=3, batch_size=2, rank=1, world=2))
        [[6, 7], [10, 11]]
    """

    def __init__(self, start: int, steps: int, batch_size: int, rank: int = 0, world: int = 1):
        self.start, self.steps, self.batch_size = int(start), int(steps), int(batch_size)
        self.rank, self.world = int(rank), int(world)

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for s in range(self.start, self.steps):
            first = (s * self.world + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))


class TrainPatches(Dataset):
    """Item ``i`` of the unpaired dataset merged with item ``i`` of the paired one (if any)."""

    def __init__(self, unpaired: Dataset, paired: Dataset | None = None) -> None:
        self.unpaired, self.paired = unpaired, paired

    def __len__(self) -> int:
        return len(self.unpaired)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = dict(self.unpaired[index])
        if self.paired is not None:
            item.update(self.paired[index])
        return item
