"""The image pool of Shrivastava et al. (2017), as used by CycleGAN, with resumable state."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ImagePool"]


class ImagePool:
    """A buffer of generated images: discriminators see a history, not only the last batch.

    For each image of a batch: while the pool is not full, store it and return it; otherwise,
    with probability 1/2 return a stored image and put the new one in its place, else return
    the new image. Random draws come from the pool's own generator, so the pool's behaviour
    is part of its state (`state_dict`) and a resumed run makes the same choices.

    Args:
        size: images kept; ``0`` disables the pool (the batch is returned as it is).
        seed: seed of the pool's generator.

    Examples:
        >>> pool = ImagePool(2, seed=0)
        >>> pool.query(torch.zeros(3, 1, 4, 4)).shape
        torch.Size([3, 1, 4, 4])
        >>> len(pool.images)
        2
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = int(size)
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(int(seed))

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images for the discriminator update (detached, same shape as ``images``)."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
                continue
            if float(torch.rand((), generator=self.generator)) > 0.5:
                i = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        """Stored images (on the CPU) and the generator state."""
        return {
            "size": self.size,
            "images": [im.detach().cpu() for im in self.images],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        """Restore a `state_dict`; images move to ``device``."""
        self.size = int(state["size"])
        self.images = [im.to(device) for im in state["images"]]
        self.generator.set_state(state["generator"])
