"""What a run writes as it goes: CSV logs, optional TensorBoard, PNG sample grids.

Only rank 0 logs. ``log.csv`` has one row per ``run.log_every`` steps (losses, learning
rate, speed); ``val.csv`` one row per validation (means over the validation fields).
When a run resumes, rows past the checkpoint's step are dropped, so the logs of a resumed
run read like those of an uninterrupted one.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["RunLogger", "sample_grid"]


class _Csv:
    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path = path
        self.fields: list[str] | None = None
        if resume_step is None or not path.is_file():
            path.unlink(missing_ok=True)
            return
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            self.fields = list(reader.fieldnames or []) or None
            rows = [r for r in reader if int(float(r["step"])) <= resume_step]
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields or ["step"])
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row)
        with self.path.open("a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(v) for k, v in row.items()})


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


class RunLogger:
    """CSV (always), TensorBoard (when installed and wanted) and sample images of one run.

    Args:
        out: the run folder.
        enabled: whether this process logs (rank 0).
        resume_step: the step a resumed run continues from (rows after it are dropped);
            ``None`` for a new run (old logs are replaced).
        tensorboard: also write TensorBoard events when ``tensorboard`` is importable.
    """

    def __init__(
        self, out: Path, enabled: bool, resume_step: int | None = None, tensorboard: bool = True
    ) -> None:
        self.out, self.enabled = Path(out), enabled
        self._tb: Any = None
        if not enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self._train = _Csv(self.out / "log.csv", resume_step)
        self._val = _Csv(self.out / "val.csv", resume_step)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # TensorBoard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(self.out / "tensorboard"), purge_step=resume_step)

    def log(self, step: int, values: dict[str, float]) -> None:
        """One row of training losses and rates."""
        self._write(self._train if self.enabled else None, "train", step, values)

    def log_val(self, step: int, values: dict[str, float]) -> None:
        """One row of validation metrics."""
        self._write(self._val if self.enabled else None, "val", step, values)

    def _write(self, table: _Csv | None, tag: str, step: int, values: dict[str, float]) -> None:
        if table is None:
            return
        table.write({"step": step, **values})
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(f"{tag}/{k}", v, step)

    def image(self, step: int, grid: np.ndarray) -> Path | None:
        """Write a sample grid as ``samples/step-NNNNNN.png``."""
        if not self.enabled:
            return None
        from ..data.io import write_image

        path = write_image(self.out / "samples" / f"step-{step:06d}.png", grid)
        if self._tb is not None:
            self._tb.add_image("samples", grid, step, dataformats="HWC")
        return path

    def close(self) -> None:
        """Flush TensorBoard."""
        if self._tb is not None:
            self._tb.close()


def _rgb(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def _grey(x: torch.Tensor) -> np.ndarray:
    return np.repeat(_rgb(x[None]), 3, axis=2)


def sample_grid(
    ihc: torch.Tensor,
    fake_if: torch.Tensor,
    rec_ihc: torch.Tensor,
    nuclear_index: int,
    marker_index: int | None,
    true_if: list[tuple[torch.Tensor, torch.Tensor | None]] | None = None,
) -> np.ndarray:
    """Rows of ``IHC | predicted nuclear | predicted marker | IHC -> IF -> IHC [| true ...]``.

    Args:
        ihc: ``(B, 3, H, W)`` in ``[0, 1]``.
        fake_if: ``(B, C, H, W)`` predicted IF, nominal scale.
        rec_ihc: ``(B, 3, H, W)`` reconstruction.
        nuclear_index: channel of the nuclear stain in ``fake_if``.
        marker_index: channel of the marker, or ``None``.
        true_if: per row, the true nuclear and marker channels when known.

    Returns:
        ``uint8`` ``(B * H, k * W, 3)``.
    """
    rows = []
    for b in range(ihc.shape[0]):
        zero = torch.zeros_like(ihc[b, 0])
        tiles = [
            _rgb(ihc[b]),
            _grey(fake_if[b, nuclear_index]),
            _grey(fake_if[b, marker_index] if marker_index is not None else zero),
            _rgb(rec_ihc[b]),
        ]
        if true_if is not None:
            nuc, mark = true_if[b]
            tiles += [_grey(nuc), _grey(mark if mark is not None else zero)]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)
