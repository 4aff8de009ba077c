"""``generate``: write re-stained copies of a labelled folder, resumably and in shards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._files import atomic_write_text
from .._progress import progress
from .._validate import resolve_device
from ..data import Pair, UnmatchedFilesError, pair_folders, read_size, write_image, write_labels
from ..models.registry import load_model
from ..ops import Op
from ..params import Params, draw_call, encode_params
from ..policy import applied, describe
from ..transform import RestainTransform
from ..translator import Translator
from .fields import Field, Output, model_info, output_seed, read_field, resolve_policy
from .manifest import finish_manifest, remove_stale_temporaries, start_manifest

__all__ = ["generate"]


def _count(value: Any, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{what}: expected an integer >= {low}, got {value!r}.")
    return int(value)


def _shard(rank: int | None, world: int | None) -> tuple[int, int]:
    world = _count(int(os.environ.get("WORLD_SIZE", "1")) if world is None else world, "world", 1)
    rank = _count(int(os.environ.get("RANK", "0")) if rank is None else rank, "rank", 0)
    if rank >= world:
        raise ValueError(f"rank: expected 0 <= rank < world ({world}), got {rank}.")
    return rank, world


def _draw(ops: Op, seed: int) -> Params:
    return draw_call(ops, 1, torch.Generator().manual_seed(seed))


def _ran(ops: Op, params: Params) -> set[str]:
    return {name for name, _, _ in applied(ops, params)}


def _batches(todo: list[Output], batch_size: int) -> Iterator[list[Output]]:
    """Consecutive outputs of the same size, at most ``batch_size`` at a time."""
    size = {o.pair: read_size(o.pair.image) for o in todo}
    todo = sorted(todo, key=lambda o: (size[o.pair], o.index))
    batch: list[Output] = []
    for o in todo:
        if batch and (len(batch) == batch_size or size[batch[0].pair] != size[o.pair]):
            yield batch
            batch = []
        batch.append(o)
    if batch:
        yield batch


def generate(
    images: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    out: str | os.PathLike[str],
    variants: int = 6,
    *,
    model: str | os.PathLike[str] | Translator = "default",
    policy: str | Op = "default",
    seed: int = 0,
    device: str | torch.device | None = None,
    batch_size: int = 8,
    include_original: bool = True,
    show_progress: bool = True,
    rank: int | None = None,
    world: int | None = None,
) -> Path:
    """Write ``variants`` re-stained copies of every labelled field under ``out``.

    See the module docstring for the layout, resuming and sharding.

    Args:
        images: folder of IHC images (8-bit RGB).
        labels: folder of instance label images, paired by name with
            `restainaug.data.pair_folders` (may be ``images`` itself).
        out: destination folder (created; a rerun resumes it).
        variants: re-stained variants per field.
        model: ``"default"``, a registry name, a model path or a `Translator`.
        policy: a name of `restainaug.presets.POLICIES` or an operation tree
            (`restainaug.policy`).
        seed: data set seed.
        device: ``"cpu"`` (when ``None``), ``"cuda"`` (GPU ``LOCAL_RANK`` under torchrun),
            ``"auto"`` or any torch device.
        batch_size: fields of the same size re-stained together.
        include_original: also write each input field as variant ``0``.
        show_progress: show a progress bar on stderr.
        rank: this process's shard; ``RANK`` from the environment when ``None``.
        world: number of shards; ``WORLD_SIZE`` from the environment when ``None``.

    Returns:
        The path of ``manifest.json`` (``"complete": true`` once every output exists).

    Raises:
        TypeError: for a policy that is neither a name nor an `restainaug.ops.Op`.
        UnmatchedFilesError: for images without labels or labels without images (a
            ValueError).
        ValueError: for missing folders, no pairs, bad counts, unreadable fields, or an
            ``out`` made with other settings.

    Examples:
        >>> import json, tempfile, pathlib
        >>> from restainaug.synth import SynthConfig
        >>> from restainaug.synth.dataset import write_dataset
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     src = write_dataset(tmp, 1, SynthConfig(size=(32, 32)), show_progress=False)
        ...     path = generate(f"{tmp}/images", f"{tmp}/labels", f"{tmp}/out", 2,
        ...                     model="optical", show_progress=False)
        ...     [o["name"] for o in json.loads(path.read_text())["outputs"]]
        ['synth_00000_v0', 'synth_00000_v1', 'synth_00000_v2']
    """
    variants = _count(variants, "variants", 1)
    seed = _count(seed, "seed", 0)
    batch_size = _count(batch_size, "batch_size", 1)
    rank, world = _shard(rank, world)
    for what, folder in (("images", images), ("labels", labels)):
        if not Path(folder).is_dir():
            raise ValueError(f"{what}: folder {folder} does not exist.")
    try:
        pairs = pair_folders(images, labels)
    except UnmatchedFilesError as e:  # its advice, strict=False, is not an option here
        raise UnmatchedFilesError(
            e.problem,
            "every image needs its label file: add the missing ones, or move the unmatched "
            "files out of the folders.",
        ) from None
    translator = model if isinstance(model, Translator) else load_model(model)
    ops, policy_info = resolve_policy(policy, translator)
    settings = {
        "images": str(Path(images).resolve()),
        "labels": str(Path(labels).resolve()),
        "variants": variants,
        "include_original": bool(include_original),
        "seed": seed,
        "model": model_info(model, translator),
        "policy": policy_info,
    }
    root = Path(out)
    if {(root / "images").resolve(), (root / "labels").resolve()} & {
        Path(images).resolve(),
        Path(labels).resolve(),
    }:
        raise ValueError(f"out: {root} would write into the input folders; choose another.")
    manifest = start_manifest(root, settings)
    first = 0 if include_original else 1
    outputs = [
        Output(i, pair, v, output_seed(seed, pair.image.stem, v))
        for i, (pair, v) in enumerate((p, v) for p in pairs for v in range(first, variants + 1))
    ]
    if world == 1:
        remove_stale_temporaries(root)
    todo = [
        o
        for o in outputs
        if o.index % world == rank and not (root / "records" / f"{o.name}.json").is_file()
    ]
    transform = RestainTransform(translator, ops, p=1.0, seed=0, device=resolve_device(device))
    common = {"model": settings["model"], "policy": policy_info}

    def run() -> Iterator[Output]:
        fields: dict[Pair, Field] = {}
        for batch in _batches(todo, batch_size):
            fields = {
                o.pair: fields[o.pair] if o.pair in fields else read_field(o.pair) for o in batch
            }
            drawn = {o: _draw(ops, o.seed) for o in batch if o.variant > 0}
            restained = iter(())
            if drawn:
                keys = next(iter(drawn.values()))
                params = {k: torch.cat([p[k] for p in drawn.values()]) for k in keys}
                x = np.stack([fields[o.pair].image for o in drawn])
                ids = np.stack([fields[o.pair].labels for o in drawn])
                restained = iter(transform(x, ids, params=params))
            for o in batch:
                f = fields[o.pair]
                image = next(restained) if o.variant > 0 else f.image
                _write_output(root, o, f, image, drawn.get(o), ops, common)
                yield o

    desc = f"generate -> {root}" + (f" [rank {rank}/{world}]" if world > 1 else "")
    for _ in progress(run(), len(todo), desc, show_progress):
        pass
    names = [o.name for o in outputs]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        if rank == 0:
            finish_manifest(root, settings, names)
    else:
        finish_manifest(root, settings, names)
    return manifest


def _write_output(
    root: Path,
    o: Output,
    field: Field,
    image: np.ndarray,
    params: Params | None,
    ops: Op,
    common: dict[str, Any],
) -> None:
    suffix = ".png" if int(field.labels.max(initial=0)) < 2**16 else ".tif"
    image_path = write_image(root / "images" / f"{o.name}.png", image)
    labels_path = write_labels(root / "labels" / f"{o.name}{suffix}", field.labels)
    record = {
        "name": o.name,
        "image": image_path.relative_to(root).as_posix(),
        "labels": labels_path.relative_to(root).as_posix(),
        "source": field.source,
        "variant": o.variant,
        "seed": o.seed,
        **common,
        "operations": [] if params is None else describe(ops, params),
        "params": None if params is None else encode_params(params, _ran(ops, params)),
    }
    atomic_write_text(root / "records" / f"{o.name}.json", json.dumps(record))  # last: complete
