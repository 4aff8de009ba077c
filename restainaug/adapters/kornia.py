"""kornia adapter: ``RandomRestain``, an intensity augmentation for ``AugmentationSequential``.

As an intensity augmentation it moves no pixel: masks, boxes and keypoints pass through
``AugmentationSequential`` untouched, and ``inverse`` skips it. All random draws, the
per-sample gate included, come from the wrapped transform's own generator, not torch's
global one: kornia's ``batch_prob`` is always 1, and ``p`` is the wrapped transform's.
"""

from __future__ import annotations

from typing import Any

import torch

try:
    from kornia.augmentation import IntensityAugmentationBase2D
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'restainaug.adapters.kornia needs kornia: pip install "restainaug[kornia]"'
    ) from e

from .._validate import check_probability
from ..params import call_params
from ..transform import RestainTransform
from ._common import keywords_from_positions, wrapped_transform

__all__ = ["RandomRestain"]

# The old signature, read from positional calls (deprecated).
_POSITIONAL = ("model", "ops", "p", "same_on_batch", "keepdim", "seed", "device", "min_tissue")


class RandomRestain(IntensityAugmentationBase2D):
    """Re-stain IHC batches inside kornia pipelines.

    Args:
        transform: the transform to wrap; built from ``**kwargs`` when ``None``.
        keepdim: kornia's ``keepdim`` (return ``(3, H, W)`` for a ``(3, H, W)`` input).
        **kwargs: arguments of `RestainTransform` (``model``, ``ops``, ``p``,
            ``same_on_batch``, ``seed``, ``device``, ``min_tissue``, ``threads``). ``p`` is
            the probability that a sample is re-stained, gated by restainaug's own generator.

    Shape:
        - input: `(B, 3, H, W)` or `(3, H, W)`, float in ``[0, 1]``
        - output: same as input (`(B, 3, H, W)` unless ``keepdim``)

    Raises:
        TypeError: for both a transform and its arguments.

    Examples:
        >>> import torch
        >>> from kornia.augmentation import AugmentationSequential
        >>> from restainaug.adapters.kornia import RandomRestain
        >>> aug = AugmentationSequential(RandomRestain(p=1.0, seed=0), data_keys=["input", "mask"])
        >>> x, m = torch.rand(2, 3, 32, 32) * 0.5 + 0.2, torch.zeros(2, 1, 32, 32)
        >>> out, out_mask = aug(x, m)
        >>> out.shape, bool(torch.equal(out_mask, m))
        (torch.Size([2, 3, 32, 32]), True)
    """

    def __init__(
        self,
        transform: RestainTransform | None = None,
        *args: Any,
        keepdim: bool = False,
        **kwargs: Any,
    ) -> None:
        transform, kwargs = keywords_from_positions(
            "RandomRestain", transform, args, _POSITIONAL, kwargs
        )
        keepdim = kwargs.pop("keepdim", keepdim)
        restain = wrapped_transform("RandomRestain", transform, kwargs)
        # kornia's own gate is never drawn (forward_parameters sets batch_prob to 1): the
        # wrapped transform draws the gate, so `p` reads and sets the wrapped transform's.
        super().__init__(p=1.0, same_on_batch=restain.same_on_batch, keepdim=keepdim)
        self.restain = restain

    @property
    def p(self) -> float:
        """The probability that a sample is re-stained (the wrapped transform's ``p``)."""
        restain = getattr(self, "restain", None)
        return 1.0 if restain is None else restain.p

    @p.setter
    def p(self, value: float) -> None:
        restain = getattr(self, "restain", None)
        if restain is None:  # kornia's __init__ sets its gate before the transform is attached
            return
        restain.p = check_probability(value, "RandomRestain")

    def forward_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
        params = dict(self.restain.sample_params(batch_shape[0]))
        params["batch_prob"] = torch.ones(batch_shape[0], dtype=torch.bool)
        params["forward_input_shape"] = torch.tensor(batch_shape, dtype=torch.long)
        return params

    def apply_transform(
        self,
        input: torch.Tensor,
        params: dict[str, torch.Tensor],
        flags: dict[str, Any],
        transform: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.restain(input, params=call_params(params))

    def set_random_state(self, seed: int | None = None, state: Any = None) -> RandomRestain:
        """Re-seed the wrapped transform's generator."""
        self.restain.set_random_state(seed=seed, state=state)
        return self
