"""MONAI dictionary transform: ``RestainTransformd``.

MONAI images are channel-first, ``(C, H, W)`` tensors (``MetaTensor``) or numpy arrays, and
``LoadImaged`` yields float values in ``[0, 255]`` for 8-bit files: pass
``value_range=(0, 255)`` then, or scale the intensities first.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

try:
    from monai.transforms import MapTransform, Randomizable
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'restainaug.RestainTransformd needs MONAI: pip install "restainaug[monai]"'
    ) from e

from .._validate import check_probability
from ..params import Params
from ..transform import RestainTransform
from ._common import ValueRange, keywords_from_positions, wrapped_transform

__all__ = ["RestainTransformd"]

# The old signature after allow_missing_keys, read from positional calls (deprecated).
_POSITIONAL = ("model", "ops", "prob", "seed", "device", "value_range", "min_tissue")


class RestainTransformd(Randomizable, MapTransform):
    """Dictionary-based `RestainTransform` for MONAI pipelines.

    One draw per call is shared by all ``keys`` of the sample (several views of one field
    are re-stained alike); the labels under ``label_key`` place new marker on those nuclei and
    pass through unchanged. ``set_random_state`` re-seeds the transform, so MONAI's
    ``DataLoader`` gives each worker its own stream.

    Args:
        keys: keys of the IHC images, channel-first ``(3, H, W)`` or batched ``(B, 3, H, W)``.
        label_key: key of the instance labels (``(1, H, W)`` or ``(H, W)``), or ``None``.
        allow_missing_keys: skip missing keys instead of raising ``KeyError``.
        transform: the transform to wrap; built from ``prob`` and ``**kwargs`` when ``None``.
        prob: probability that a sample is re-stained (MONAI's name for the transform's
            ``p``; 0.5 when ``None``).
        value_range: the images' ``(low, high)``; ``(0, 255)`` for unscaled 8-bit loads.
            Ignored for ``uint8`` images.
        p: deprecated name of ``prob``.
        **kwargs: other arguments of `RestainTransform` (``model``, ``ops``, ``seed``,
            ``device``, ``min_tissue``, ``threads``...).

    Raises:
        TypeError: if both ``prob`` and ``p`` are given, or a transform and its arguments.
        ValueError: for ``prob`` outside ``[0, 1]`` or a bad ``value_range``.

    Examples:
        >>> import torch
        >>> from restainaug import RestainTransformd
        >>> t = RestainTransformd(keys="image", label_key="label", prob=1.0, seed=0)
        >>> d = {"image": torch.rand(3, 32, 32) * 0.5 + 0.2, "label": torch.zeros(1, 32, 32)}
        >>> out = t(d)
        >>> out["image"].shape, out["label"] is d["label"]
        (torch.Size([3, 32, 32]), True)
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        label_key: Hashable | None = None,
        allow_missing_keys: bool = False,
        transform: RestainTransform | None = None,
        *args: Any,
        prob: float | None = None,
        value_range: tuple[float, float] = (0.0, 1.0),
        p: float | None = None,
        **kwargs: Any,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        transform, kwargs = keywords_from_positions(
            "RestainTransformd", transform, args, _POSITIONAL, kwargs
        )
        prob = kwargs.pop("prob", prob)
        value_range = kwargs.pop("value_range", value_range)
        if p is not None:
            if prob is not None:
                raise TypeError(
                    f"RestainTransformd: got prob={prob!r} and p={p!r}; pass prob only (p is its "
                    "deprecated name)."
                )
            warnings.warn(
                "RestainTransformd: p is deprecated; pass prob, as for MONAI's random transforms.",
                DeprecationWarning,
                stacklevel=2,
            )
            prob = p
        if prob is not None:
            kwargs["p"] = check_probability(prob, "RestainTransformd", "prob")
        self.value_range = ValueRange.of(value_range, "RestainTransformd")
        self.label_key = label_key
        self.transform = wrapped_transform("RestainTransformd", transform, kwargs)
        self.params: Params | None = None

    @property
    def prob(self) -> float:
        """The probability that a sample is re-stained (the wrapped transform's ``p``)."""
        return self.transform.p

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RestainTransformd:
        """Re-seed the transform (called by MONAI's ``set_determinism`` and worker init)."""
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed=seed, state=state)
        return self

    def randomize(self, data: Any) -> None:
        """Draw the parameters of one call; ``data`` is the batch size (1 for a sample)."""
        self.params = self.transform.sample_params(int(data))

    def _restain(self, img: Any, labels: Any, params: Params) -> Any:
        as_numpy = isinstance(img, np.ndarray)
        x = torch.from_numpy(img) if as_numpy else img
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"RestainTransformd: expected a tensor or numpy array, got {type(img).__name__}."
            )
        scaled = x.dtype != torch.uint8 and not self.value_range.is_unit
        if scaled:
            x = self.value_range.to_unit(x)
        if labels is not None and isinstance(labels, np.ndarray):
            labels = torch.from_numpy(labels)
        y = self.transform(x, labels=labels, params=params)
        if y is x:
            return img
        if scaled:
            y = self.value_range.from_unit(y)
        return y.numpy() if as_numpy else y

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        keys = list(self.key_iterator(d))
        if not keys:
            return d
        first = d[keys[0]]
        self.randomize(first.shape[0] if getattr(first, "ndim", 0) == 4 else 1)
        assert self.params is not None
        labels = None
        if self.label_key is not None:
            if self.label_key in d:
                labels = d[self.label_key]
            elif not self.allow_missing_keys:
                raise KeyError(f"RestainTransformd: label key {self.label_key!r} not in the data.")
        for key in keys:
            try:
                d[key] = self._restain(d[key], labels, self.params)
            except (TypeError, ValueError) as e:
                raise type(e)(f"RestainTransformd, key {key!r}: {e}") from None
        return d
