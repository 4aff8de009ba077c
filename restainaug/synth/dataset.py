"""Write synthetic fields to disk as a labelled data set (``restainaug synth``).

Layout of ``out/``::

    images/synth_00000.png        IHC, uint8 RGB
    labels/synth_00000.png        nucleus instance labels, 16-bit
    if/synth_00000/DAPI.tif       nuclear IF channel, float32
    if/synth_00000/marker.tif     marker IF channel, float32
    manifest.json                 settings, and per field: seed, nucleus classes and marker status

Every file is written atomically; fields already on disk are kept (the command resumes), and
the manifest is rewritten at the end. Field ``i`` of a data set with seed ``s`` is
``synthesize(config, seed=field_seed(s, i))``, so any field can be regenerated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write_text
from .._progress import progress
from . import SynthConfig, synthesize

__all__ = ["field_seed", "write_dataset"]

MANIFEST_VERSION = 1


def field_seed(seed: int, index: int) -> int:
    """The seed of field ``index`` of a data set drawn with ``seed`` (independent streams).

    Examples:
        >>> field_seed(0, 0) != field_seed(0, 1) != field_seed(1, 0)
        True
    """
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _paths(out: Path, name: str) -> tuple[Path, Path, Path]:
    return out / "images" / f"{name}.png", out / "labels" / f"{name}.png", out / "if" / name


def write_dataset(
    out: str | os.PathLike[str],
    n: int,
    config: SynthConfig | None = None,
    seed: int = 0,
    *,
    prefix: str = "synth",
    show_progress: bool = True,
) -> Path:
    """Draw ``n`` fields and write them under ``out`` (see the module docstring for the layout).

    Args:
        out: destination folder (created).
        n: number of fields.
        config: field settings (defaults when ``None``).
        seed: data set seed.
        prefix: file name prefix.
        show_progress: show a progress bar on stderr.

    Returns:
        The path of the manifest.

    Raises:
        ValueError: for ``n < 1``, or an existing manifest written with other settings.
    """
    from ..data.io import write_image, write_labels, write_plane

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a number of fields >= 1, got {n!r}.")
    cfg = config or SynthConfig()
    root = Path(out)
    manifest_path = root / "manifest.json"
    settings = {"config": cfg.to_dict(), "seed": int(seed), "prefix": prefix}
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if {k: old.get(k) for k in settings} != json.loads(json.dumps(settings)):
            raise ValueError(
                f"{root} holds a data set made with other settings (see {manifest_path}); "
                "choose another folder or delete it."
            )
    fields: list[dict[str, Any]] = []
    for i in progress(range(n), n, f"synth -> {root}", show_progress):
        name = f"{prefix}_{i:05d}"
        s = field_seed(seed, i)
        image, labels, if_dir = _paths(root, name)
        record = root / "if" / name / "field.json"
        if record.is_file() and image.is_file() and labels.is_file():
            fields.append(json.loads(record.read_text()))  # done earlier: resume
            continue
        f = synthesize(cfg, seed=s)
        write_plane(if_dir / "DAPI.tif", f.if_[0])
        write_plane(if_dir / "marker.tif", f.if_[1])
        write_labels(labels, f.labels)
        write_image(image, f.ihc)
        info = {
            "name": name,
            "index": i,
            "seed": s,
            "image": image.relative_to(root).as_posix(),
            "labels": labels.relative_to(root).as_posix(),
            "if": if_dir.relative_to(root).as_posix(),
            "nuclei": f.n,
            "positive": np.flatnonzero(f.positive).tolist(),
            "classes": f.classes.tolist(),
            "params": f.params,
        }
        atomic_write_text(record, json.dumps(info))  # last: marks the field complete
        fields.append(info)
    manifest = {**settings, "version": MANIFEST_VERSION, "n": n, "fields": fields}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
    return manifest_path
