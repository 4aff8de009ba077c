"""torchvision ``transforms.v2`` adapter: ``RestainTransformV2``.

``v2.Compose`` hands each transform the whole sample (an image with its masks, boxes and
labels, in any nesting). This adapter re-stains the images (``tv_tensors.Image``, PIL RGB
images, or the first plain tensor when there is no explicit image) with one draw per call and
returns every other item as the same object. A single ``tv_tensors.Mask`` in the sample is
used as instance labels for the marker operations (a binary mask is split into its connected
components).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

try:
    import PIL.Image
    from torch.utils._pytree import tree_flatten, tree_unflatten
    from torchvision import tv_tensors
    from torchvision.transforms import v2
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'restainaug.adapters.torchvision needs torchvision: pip install "restainaug[torchvision]"'
    ) from e

from ..transform import RestainTransform

__all__ = ["RestainTransformV2"]


class RestainTransformV2(v2.Transform):
    """`RestainTransform` as a ``torchvision.transforms.v2`` transform.

    Args:
        transform: the transform to wrap; built from ``**kwargs`` when ``None``.
        mask_as_labels: use the sample's single ``tv_tensors.Mask`` as instance labels.
        **kwargs: arguments of `RestainTransform` (``model``, ``ops``,
            ``p``, ``seed``...).

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

    _transformed_types = (tv_tensors.Image, PIL.Image.Image, torch.Tensor)

    def __init__(
        self, transform: RestainTransform | None = None, mask_as_labels: bool = True, **kwargs: Any
    ) -> None:
        super().__init__()
        if transform is not None and kwargs:
            raise TypeError(
                "RestainTransformV2: pass either a transform or its arguments, not both."
            )
        if transform is not None and not isinstance(transform, RestainTransform):
            raise TypeError(
                "transform: expected a restainaug.RestainTransform, "
                f"got {type(transform).__name__}."
            )
        self.restain = transform if transform is not None else RestainTransform(**kwargs)
        self.mask_as_labels = mask_as_labels

    @property
    def params(self) -> dict[str, torch.Tensor] | None:
        """The parameters of the last call (replay them with ``self.restain(x, params=...)``)."""
        return self.restain.params

    def _restain_one(self, inpt: Any, labels: Any, params: dict[str, torch.Tensor]) -> Any:
        if isinstance(inpt, PIL.Image.Image):
            if inpt.mode != "RGB":
                raise ValueError(
                    f"RestainTransformV2: expected an RGB PIL image, got mode {inpt.mode!r}."
                )
            arr = np.asarray(inpt)
            out = self.restain(arr, labels=labels, params=params)
            return inpt if out is arr else PIL.Image.fromarray(out)
        return self.restain(inpt, labels=labels, params=params)

    def forward(self, *inputs: Any) -> Any:
        flat, spec = tree_flatten(inputs if len(inputs) > 1 else inputs[0])
        needs = self._needs_transform_list(flat)
        # Masks, boxes, labels and other tv_tensors pass through (torchvision would transform
        # them as tensors otherwise).
        targets = [
            i
            for i, (x, n) in enumerate(zip(flat, needs, strict=True))
            if n and (isinstance(x, (tv_tensors.Image, PIL.Image.Image)) or type(x) is torch.Tensor)
        ]
        if not targets:
            return inputs if len(inputs) > 1 else inputs[0]
        masks = [x for x in flat if isinstance(x, tv_tensors.Mask)]
        labels = masks[0] if self.mask_as_labels and len(masks) == 1 else None
        first = flat[targets[0]]
        batch = first.shape[0] if isinstance(first, torch.Tensor) and first.ndim == 4 else 1
        params = self.restain.sample_params(batch)
        out = list(flat)
        for i in targets:
            out[i] = self._restain_one(flat[i], labels, params)
        self.restain.params = params
        if all(o is f for o, f in zip(out, flat, strict=True)):
            return inputs if len(inputs) > 1 else inputs[0]  # nothing re-stained: same objects
        return tree_unflatten(out, spec)

    def extra_repr(self) -> str:
        return f"mask_as_labels={self.mask_as_labels}"
