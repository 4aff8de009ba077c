"""In-silico data sets: re-stained copies of a labelled folder on disk (``restainaug generate``).

Layout of ``out/``::

    images/<stem>_v0.png       the input field itself (``include_original``), uint8 RGB
    images/<stem>_v<k>.png     re-stained variant k = 1..variants, uint8 RGB
    labels/<stem>_v<k>.png     the input labels, ids unchanged (16-bit; .tif above 65535)
    records/<stem>_v<k>.json   source files and their sha256, variant, seed, model, policy,
                               the operations applied and the drawn parameters
    manifest.json              settings, and every output's record without its parameters

Output ``k`` of the field ``stem`` draws its parameters from `output_seed` of
``(seed, stem, k)`` alone, so outputs do not depend on order, batching or sharding, and
`regenerate` rebuilds any one of them from its record.

Resuming: the record is written last (atomically, like the image and labels), so an output
whose record exists is complete and is skipped; anything else is written again.

Sharding: process ``rank`` of ``world`` (``RANK`` and ``WORLD_SIZE`` under ``torchrun``)
writes the outputs whose index is ``rank`` modulo ``world``. ``manifest.json`` is written at
the start with the settings (``"complete": false``) and rebuilt from all records by any
process that finds every record present when it finishes (rank 0 only, after a barrier, when
a ``torch.distributed`` process group is initialised). A later run with ``world=1``
completes whatever is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._files import atomic_write_text
from ._progress import progress
from ._records import (
    finish_manifest,
    remove_stale_temporaries,
    sha256_of,
    start_manifest,
)
from ._validate import resolve_device
from .data import Pair, UnmatchedFilesError, pair_folders, read_size, write_image, write_labels
from .models.registry import load_model
from .ops import Op
from .params import Params, decode_params, draw_call, encode_params, mix_seed
from .policy import applied, describe
from .presets import policy_preset
from .transform import RestainTransform
from .translator import Translator

__all__ = ["generate", "output_seed", "regenerate"]


def output_seed(seed: int, stem: str, variant: int) -> int:
    """The seed of variant ``variant`` of the field ``stem`` in a data set drawn with ``seed``.

    Examples:
        >>> output_seed(0, "a", 1) == output_seed(0, "a", 1) != output_seed(0, "a", 2)
        True
    """
    return mix_seed(int(seed), stem, int(variant))


@dataclass(frozen=True)
class _Output:
    index: int
    pair: Pair
    variant: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.pair.image.stem}_v{self.variant}"


@dataclass
class _Field:
    image: np.ndarray
    labels: np.ndarray
    source: dict[str, str]


def _read_field(pair: Pair) -> _Field:
    image, labels = pair.read()
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"{pair.image}: expected an 8-bit RGB image, got dtype {image.dtype} and shape "
            f"{image.shape}; convert it to 8-bit RGB first."
        )
    source = {
        "image": str(pair.image.resolve()),
        "labels": str(pair.labels.resolve()),
        "image_sha256": sha256_of(pair.image),
        "labels_sha256": sha256_of(pair.labels),
    }
    return _Field(np.ascontiguousarray(image), labels, source)


def _policy(policy: str | Op, translator: Translator) -> tuple[Op, dict[str, str]]:
    if isinstance(policy, Op):
        ops, name = policy, "custom"
    elif isinstance(policy, str):
        ops, name = policy_preset(policy, translator.marker_index is not None), policy
    else:
        raise TypeError(f"policy: expected a name or an Op, got {type(policy).__name__}.")
    return ops, {"name": name, "description": repr(ops)}


def _model_info(model: Any, translator: Translator) -> dict[str, Any]:
    source = None
    if isinstance(model, (str, os.PathLike)):
        source = os.fspath(model)
        if Path(source).exists():
            source = str(Path(source).resolve())
    card = getattr(translator, "card", None)
    return {"name": translator.name, "source": source, "sha256": getattr(card, "sha256", None)}


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


def _batches(todo: list[_Output], batch_size: int) -> Iterator[list[_Output]]:
    """Consecutive outputs of the same size, at most ``batch_size`` at a time."""
    size = {o.pair: read_size(o.pair.image) for o in todo}
    todo = sorted(todo, key=lambda o: (size[o.pair], o.index))
    batch: list[_Output] = []
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
    ops, policy_info = _policy(policy, translator)
    settings = {
        "images": str(Path(images).resolve()),
        "labels": str(Path(labels).resolve()),
        "variants": variants,
        "include_original": bool(include_original),
        "seed": seed,
        "model": _model_info(model, translator),
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
        _Output(i, pair, v, output_seed(seed, pair.image.stem, v))
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

    def run() -> Iterator[_Output]:
        fields: dict[Pair, _Field] = {}
        for batch in _batches(todo, batch_size):
            fields = {
                o.pair: fields[o.pair] if o.pair in fields else _read_field(o.pair) for o in batch
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
                _write(root, o, f, image, drawn.get(o), ops, common)
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


def _write(
    root: Path,
    o: _Output,
    field: _Field,
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


def regenerate(
    manifest: str | os.PathLike[str],
    name: str,
    *,
    model: str | os.PathLike[str] | Translator | None = None,
    policy: Op | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Rebuild one output of a generated data set from its record.

    The source files must be unchanged (their sha256 is checked). The result equals the
    written image bit for bit when computed on the same kind of device (for the ``optical``
    translator on any device up to float rounding of the GPU).

    Args:
        manifest: the data set's ``manifest.json`` or its folder.
        name: the output's name, e.g. ``"img01_v3"``.
        model: the translator, when the record names none that loads (a `Translator` object
            was given to `generate`); its weights' sha256 must match the record.
        policy: the operation tree, for data sets made with a custom policy.
        device: where to run (``"cpu"`` when ``None``).

    Returns:
        The output image, uint8 ``(H, W, 3)``.

    Raises:
        ValueError: for an unknown name, changed source files, or a model or policy that
            differs from the record.
    """
    root = Path(manifest)
    root = root.parent if root.is_file() else root
    path = root / "records" / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"No output named {name!r} in {root} (no {path}).")
    record = json.loads(path.read_text())
    src = record["source"]
    field = _read_field(Pair(Path(src["image"]), Path(src["labels"])))
    for key in ("image_sha256", "labels_sha256"):
        if field.source[key] != src[key]:
            raise ValueError(
                f"{src['image']} or its labels changed since {name} was generated (their sha256 "
                "differs from the record)."
            )
    if record["params"] is None:
        return field.image
    info = record["model"]
    if model is None:
        if info["source"] is None:
            raise ValueError(f"{name} was made with a Translator object; pass it as model=.")
        model = info["source"]
    translator = model if isinstance(model, Translator) else load_model(model)
    sha = getattr(getattr(translator, "card", None), "sha256", None)
    if translator.name != info["name"] or sha != info["sha256"]:
        raise ValueError(
            f"model {translator.name!r} (sha256 {sha}) is not the one {name} was made with: "
            f"{info['name']!r} (sha256 {info['sha256']})."
        )
    if policy is None and record["policy"]["name"] == "custom":
        raise ValueError(f"{name} was made with a custom policy; pass it as policy=.")
    ops = policy if policy is not None else _policy(record["policy"]["name"], translator)[0]
    if repr(ops) != record["policy"]["description"]:
        raise ValueError(f"policy {ops!r} differs from the one recorded for {name}.")
    transform = RestainTransform(translator, ops, p=1.0, seed=0, device=resolve_device(device))
    params = decode_params(ops, record["params"])
    return transform(field.image[None], field.labels[None], params=params)[0]
