"""Re-staining in a training loop, the two usual ways.

1. Per sample, inside a ``Dataset`` (numpy in, numpy out), in DataLoader workers: each worker
   gets its own reproducible random stream.
2. Per batch, after the batch is on the training device (GPU when there is one).

The "model" here is a stand-in (one convolution) so the example runs anywhere in seconds;
swap in your segmentation network and loss.

    python examples/quickstart.py --steps 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage import data
from torch.utils.data import DataLoader, Dataset

from restainaug import RestainTransform


class RandomCrops(Dataset):
    """Random crops of one IHC image with a placeholder label map."""

    def __init__(
        self, image: np.ndarray, size: int, n: int, transform: RestainTransform | None
    ) -> None:
        self.image, self.size, self.n, self.transform = image, size, n, transform

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(i)
        y, x = rng.integers(0, self.image.shape[0] - self.size, 2)
        crop = self.image[y : y + self.size, x : x + self.size]
        labels = np.zeros(crop.shape[:2], np.int32)  # your instance labels go here
        if self.transform is not None:
            crop = self.transform(crop, labels=labels)  # numpy uint8 in, numpy uint8 out
        return torch.from_numpy(crop).permute(2, 0, 1), torch.from_numpy(labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)  # makes the workers' re-staining streams reproducible

    image = data.immunohistochemistry()
    per_sample = RestainTransform(p=0.5)  # way 1: in the workers
    per_batch = RestainTransform(p=0.5, seed=0)  # way 2: on the device, after collation
    loader = DataLoader(
        RandomCrops(image, args.size, args.steps * args.batch_size, per_sample),
        batch_size=args.batch_size,
        num_workers=args.workers,
    )
    model = torch.nn.Conv2d(3, 1, 3, padding=1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for step, (x, labels) in enumerate(loader):
        x = per_batch(x.to(device))  # uint8 (B, 3, H, W) on the device in and out
        logits = model(x.float() / 255)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits[:, 0], (labels.to(device) > 0).float()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(
                f"step {step:3d}  loss {loss.item():.4f}  "
                f"batch {tuple(x.shape)} {x.dtype} {x.device}"
            )
    print(f"{args.steps} steps in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
