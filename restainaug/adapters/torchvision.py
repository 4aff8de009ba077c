"""torchvision ``transforms.v2`` adapter: ``RestainTransformV2``.

``v2.Compose`` hands each transform the whole sample (an image with its masks, boxes and
labels, in any nesting). This adapter re-stains the images (``tv_tensors.Image``, PIL RGB
images, or the first plain tensor when there is no explicit image) with one draw per call and
returns every other item as the same object. A single ``tv_tensors.Mask`` in the sample is
used as instance labels for the marker operations (a binary mask is split into its connected
components).

It is written on the public API of ``v2.Transform``: ``make_params`` draws once per call,
``transform`` re-stains one item (torchvision 0.21 or later).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

try:
    import PIL.Image
    from torchvision import tv_tensors
    from torchvision.transforms import v2
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'restainaug.adapters.torchvision needs torchvision: pip install "restainaug[torchvision]"'
    ) from e

from ..params import Params
from ..transform import RestainTransform
from ._common import wrapped_transform

__all__ = ["RestainTransformV2"]


def _is_image(x: Any) -> bool:
    """Whether the adapter re-stains ``x`` (masks, boxes and other tv_tensors pass through)."""
    return isinstance(x, (tv_tensors.Image, PIL.Image.Image)) or type(x) is torch.Tensor


class RestainTransformV2(v2.Transform):
    """`RestainTransform` as a ``torchvision.transforms.v2`` transform.

    Args:
        transform: the transform to wrap; built from ``**kwargs`` when ``None``.
        mask_as_labels: use the sample's single ``tv_tensors.Mask`` as instance labels.
        **kwargs: arguments of `RestainTransform` (``model``, ``ops``,
            ``p``, ``seed``, ``threads``...).

    Raises:
        TypeError: for both a transform and its arguments.

    Examples:
        >>> import torch
        >>> from torchvision import tv_tensors
        >>> from torchvision.transforms import v2
        >>> from restainaug.adapters.torchvision import RestainTransformV2
        >>> pipeline = v2.Compose([v2.RandomHorizontalFlip(), RestainTransformV2(p=1.0, seed=0)])
        >>> img = tv_tensors.Image(torch.randint(60, 220, (3, 32, 32), dtype=torch.uint8))
        >>> mask = tv_tensors.Mask(torch.zeros(32, 32, dtype=torch.int64))
        >>> out_img, out_mask = pipeline(img, mask)
        >>> type(out_img).__name__, out_img.dtype
        ('Image', torch.uint8)
    """

    def __init__(
        self, transform: RestainTransform | None = None, mask_as_labels: bool = True, **kwargs: Any
    ) -> None:
        super().__init__()
        self.restain = wrapped_transform("RestainTransformV2", transform, kwargs)
        self.mask_as_labels = mask_as_labels
        self._changed = False

    @property
    def params(self) -> Params | None:
        """The parameters of the last call (replay them with ``self.restain(x, params=...)``)."""
        return self.restain.params

    def forward(self, *inputs: Any) -> Any:
        # v2.Transform.forward rebuilds the sample's containers; give the caller's own
        # sample back when nothing was re-stained (p, or tiles that are only glass).
        self._changed = False
        out = super().forward(*inputs)
        return out if self._changed else (inputs if len(inputs) > 1 else inputs[0])

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw once for the sample: the wrapped transform's params and the labels to use."""
        images = [x for x in flat_inputs if _is_image(x)]
        if not images:
            return {"restain": None, "labels": None}
        masks = [x for x in flat_inputs if isinstance(x, tv_tensors.Mask)]
        first = images[0]
        batch = first.shape[0] if isinstance(first, torch.Tensor) and first.ndim == 4 else 1
        return {
            "restain": self.restain.sample_params(batch),
            "labels": masks[0] if self.mask_as_labels and len(masks) == 1 else None,
        }

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Re-stain one image of the sample with the call's params; return others as they are."""
        if params["restain"] is None or not _is_image(inpt):
            return inpt
        out = self.restain_one(inpt, params["labels"], params["restain"])
        self._changed |= out is not inpt
        return out

    def restain_one(self, inpt: Any, labels: Any, params: Params) -> Any:
        """Re-stain one image (a tensor or an RGB PIL image) with given params.

        Raises:
            ValueError: for a PIL image that is not RGB.
        """
        if isinstance(inpt, PIL.Image.Image):
            if inpt.mode != "RGB":
                raise ValueError(
                    f"RestainTransformV2: expected an RGB PIL image, got mode {inpt.mode!r}."
                )
            arr = np.asarray(inpt)
            out = self.restain(arr, labels=labels, params=params)
            return inpt if out is arr else PIL.Image.fromarray(out)
        return self.restain(inpt, labels=labels, params=params)

    def extra_repr(self) -> str:
        return f"mask_as_labels={self.mask_as_labels}"
