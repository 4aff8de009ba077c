"""Read multiplexed fluorescence (MIBI, Vectra/inForm, any channel stack) as an `IFImage`.

Three layouts are recognised:

1. a folder of single-channel images, one per marker, named by marker (``HH3.tiff``,
   ``HER2.tiff``: the MIBI / ark-analysis layout); channel names are the file stems;
2. a multi-page TIFF whose pages carry PerkinElmer (Vectra, inForm) XML descriptions: channel
   names come from each page's top-level ``<Name>`` (``"DAPI"``, ``"Cy5"``); pages of another
   shape or dtype (the RGB thumbnail) are skipped;
3. any other multi-page or multi-channel file read with `restainaug.data.read_stack`; its
   channels are named ``"ch0"``, ``"ch1"``, ... and picked by index.

Channel order in files is not to be trusted: the phenoptr sample's pages are Alexa 594,
Cy3, Cy5, DAPI, FITC, not the order its documentation lists. Pick channels by name.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..translator import ROLES
from .ifimage import IFImage, find_channel, gaussian_smooth, percentile_normalize
from .io import PathLike, read_image, stack_with_descriptions

__all__ = ["ChannelSpec", "perkinelmer_name", "read_multiplex"]

#: Channels to read: ``{role: name or index}`` (``"other"`` may map to a list), a list of
#: names/indices (role ``"other"``), or ``None`` for all channels (role ``"other"``).
ChannelSpec = Mapping[str, str | int | Sequence[str | int]] | Sequence[str | int] | None

_FOLDER_SUFFIXES = (".tif", ".tiff", ".png")


def perkinelmer_name(description: str) -> str | None:
    """The plane name in a PerkinElmer (Vectra / inForm) TIFF page description, if any.

    Only the top-level ``<Name>`` is read; names nested in the spectral library
    (``ScanProfile``) describe library entries, not the plane.

    Args:
        description: a TIFF ImageDescription string.

    Returns:
        The name, or ``None`` when the description is not PerkinElmer XML or has no name.

    Examples:
        >>> perkinelmer_name('<?xml version="1.0" encoding="utf-16"?>'
        ...     '<PerkinElmer-QPI-ImageDescription><Name>DAPI</Name>'
        ...     '</PerkinElmer-QPI-ImageDescription>')
        'DAPI'
        >>> perkinelmer_name("ImageJ=1.54") is None
        True
    """
    if "<PerkinElmer-QPI-ImageDescription" not in description:
        return None
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", description)  # str input: drop the encoding claim
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    name = root.find("Name")
    return name.text.strip() if name is not None and name.text and name.text.strip() else None


def _file_channels(path: Path) -> tuple[np.ndarray, list[str]]:
    stack, descriptions = stack_with_descriptions(path)
    parsed = [perkinelmer_name(d) for d in descriptions]
    names = [p if p and parsed.count(p) == 1 else f"ch{i}" for i, p in enumerate(parsed)]
    return stack, names


def _folder_files(folder: Path) -> list[Path]:
    files = sorted(
        f
        for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() in _FOLDER_SUFFIXES and not f.name.startswith(".")
    )
    if not files:
        raise ValueError(
            f"{folder}: no single-channel images ({', '.join(_FOLDER_SUFFIXES)}) in this folder."
        )
    stems = [f.stem.lower() for f in files]
    dups = sorted({f.name for f in files if stems.count(f.stem.lower()) > 1})
    if dups:
        raise ValueError(f"{folder}: several files give the same channel name: {dups}.")
    return files


def _resolve(channels: ChannelSpec, names: Sequence[str], source: str) -> list[tuple[int, str]]:
    """(index, role) of each requested channel, in output order."""
    if channels is None:
        return [(i, "other") for i in range(len(names))]
    wanted: list[tuple[str | int, str]] = []
    if isinstance(channels, Mapping):
        for role, spec in channels.items():
            if role not in ROLES:
                raise ValueError(
                    f"{source}: channel roles must be in {ROLES}, got {role!r}. Use e.g. "
                    f"channels={{'nuclear': 'DAPI', 'marker': 'HER2'}}."
                )
            specs = spec if role == "other" and not isinstance(spec, (str, int)) else [spec]
            wanted.extend((s, role) for s in specs)  # type: ignore[misc]
    elif isinstance(channels, (str, int)):
        wanted = [(channels, "other")]
    else:
        wanted = [(c, "other") for c in channels]
    if not wanted:
        raise ValueError(f"{source}: no channels requested; available: {list(names)}.")
    picked = [(find_channel(c, names, source), role) for c, role in wanted]
    idx = [i for i, _ in picked]
    if len(set(idx)) != len(idx):
        raise ValueError(f"{source}: a channel is requested twice: {[names[i] for i in idx]}.")
    return picked


def read_multiplex(
    source: PathLike,
    channels: ChannelSpec = None,
    smooth_sigma: float | None = None,
    normalize: tuple[float, float] | None = (1.0, 99.8),
) -> IFImage:
    """Read multiplexed fluorescence channels, optionally smoothed and normalised.

    Args:
        source: a folder of single-channel images, or a multi-page / multi-channel TIFF.
        channels: which channels, with which roles: ``{"nuclear": "HH3", "marker": "HER2"}``
            (names ignore case; indices work too; ``"other"`` may map to a list), a list of
            names/indices (role ``"other"``), or ``None`` for all channels (role ``"other"``;
            in a folder, every image file, label images included).
        smooth_sigma: Gaussian blur in pixels before normalising (``1`` to ``2`` tames sparse
            ion counts); ``None`` for none.
        normalize: ``(low, high)`` percentiles mapped to 0 and 1 per channel (clipped), see
            `percentile_normalize`; ``None`` keeps the raw values (as float32).

    Returns:
        The channels in the requested order, with names and roles.

    Raises:
        FileNotFoundError: if ``source`` does not exist.
        ValueError: for an unknown channel (the message lists the available names), channels
            of different sizes, or unreadable files.

    Examples:
        >>> import tempfile, pathlib
        >>> from restainaug.data import write_image
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for name in ("HH3", "HER2", "CD45"):
        ...         _ = write_image(pathlib.Path(tmp, f"{name}.tiff"), np.eye(8, dtype=np.uint8))
        ...     im = read_multiplex(tmp, {"nuclear": "hh3", "marker": "HER2"}, smooth_sigma=1)
        >>> im.names, im.roles, im.data.shape
        (('HH3', 'HER2'), ('nuclear', 'marker'), (2, 8, 8))
    """
    if smooth_sigma is not None and not smooth_sigma > 0:
        raise ValueError(f"smooth_sigma: expected None or a positive number, got {smooth_sigma!r}.")
    if normalize is not None and len(normalize) != 2:
        raise ValueError(f"normalize: expected None or (low, high) percentiles, got {normalize!r}.")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"Multiplex source not found: {path}")
    if path.is_dir():
        files = _folder_files(path)
        names = [f.stem for f in files]
        picked = _resolve(channels, names, str(path))
        planes: list[np.ndarray] = []
        for i, _ in picked:
            plane = read_image(files[i])
            if plane.ndim != 2:
                raise ValueError(
                    f"{files[i]}: expected a single-channel image (H, W) in a channel folder, "
                    f"got shape {plane.shape}."
                )
            if planes and plane.shape != planes[0].shape:
                raise ValueError(
                    f"{path}: channel images differ in size: {files[picked[0][0]].name} is "
                    f"{planes[0].shape}, {files[i].name} is {plane.shape}."
                )
            planes.append(plane)
        data = np.stack(planes).astype(np.float32)
    else:
        stack, names = _file_channels(path)
        picked = _resolve(channels, names, str(path))
        data = stack[[i for i, _ in picked]].astype(np.float32)
    if smooth_sigma is not None:
        data = gaussian_smooth(data, smooth_sigma)
    if normalize is not None:
        data = percentile_normalize(data, normalize[0], normalize[1])
    return IFImage(data, tuple(names[i] for i, _ in picked), tuple(r for _, r in picked), str(path))
