"""RestainTransform: IHC -> IF -> random channel operations -> IHC, as a training transform."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from ._validate import Layout, check_probability, from_batch, labels_to_batch, to_batch
from .context import IFContext
from .models.registry import load_model
from .ops import Op
from .params import APPLY, ROOT, Params, check_params, draw_call, index_params, mix_seed, op_params
from .policy import check_policy, run
from .presets import default_policy
from .stains import tissue_fraction
from .threads import ThreadSetting, check_threads, cpu_threads, resolve
from .translator import Translator

__all__ = ["RestainTransform"]


class RestainTransform(nn.Module):
    """Re-stain IHC images through the IF domain (ReStainGAN augmentation).

    Each call: check the input, draw per-sample parameters (or take ``params``), translate the
    selected samples to IF channels, apply the operation policy, translate back, and return the
    result in the input's type, layout, dtype and device. Samples not selected by ``p``, and
    tiles that are (almost) only glass, come back with their exact input values.

    The translator's generators are frozen, run without autograd, and are not submodules:
    they are not in the transform's ``state_dict`` or ``parameters()``.

    Args:
        model: ``"default"``, a registry name (see `restainaug.list_models`), a path to
            a saved model, or a `Translator`.
        ops: the operation policy; `restainaug.presets.default_policy` when ``None``.
        p: probability that a sample is re-stained.
        same_on_batch: use one draw for the whole batch.
        seed: seed of the transform's own random generator; ``None`` draws one from torch's
            global generator (so ``torch.manual_seed`` makes runs reproducible).
        device: where to run; the input's device when ``None``.
        min_tissue: samples whose fraction of tissue pixels (mean optical density > 0.1) is
            below this are returned unchanged.
        threads: torch CPU threads of a call on the CPU: ``"auto"`` uses one thread per
            megapixel of the batch, at most torch's setting (a tile runs on one thread, so
            that it neither stalls nor slows down beside training or other processes; see
            `restainaug.threads`), an int fixes the count, ``None`` leaves torch's setting.
            torch's setting is restored after each call.

    Attributes:
        params (Params | None): the parameters of the last call; ``t(x, params=t.params)``
            replays it.
        translator (Translator): the translator in use.

    Shape:
        - image: `(3, H, W)`, `(B, 3, H, W)` tensors; `(H, W, 3)`,
          `(B, H, W, 3)` numpy arrays; ``uint8`` or float in ``[0, 1]``
        - labels: instance labels `(H, W)` or `(B, H, W)` (a channel of 1 allowed)
        - output: same as image

    Raises:
        TypeError: unsupported image, label or policy types.
        ValueError: bad shapes or values, unknown models, or a policy that needs a channel
            role the model lacks.

    Examples:
        >>> import torch
        >>> from restainaug import RestainTransform
        >>> t = RestainTransform(p=1.0, seed=0)
        >>> x = torch.rand(2, 3, 64, 64) * 0.6 + 0.2
        >>> y = t(x)
        >>> y.shape, y.dtype
        (torch.Size([2, 3, 64, 64]), torch.float32)
        >>> torch.equal(t(x, params=t.params), y)
        True
        >>> torch.equal(RestainTransform(p=0.0)(x), x)
        True
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Translator = "default",
        ops: Op | None = None,
        p: float = 0.5,
        same_on_batch: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
        min_tissue: float = 0.01,
        threads: ThreadSetting = "auto",
    ) -> None:
        super().__init__()
        check_probability(p, "RestainTransform")
        if not isinstance(same_on_batch, bool):
            raise TypeError(f"same_on_batch: expected a bool, got {type(same_on_batch).__name__}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}.")
        if not isinstance(min_tissue, (int, float)) or not 0.0 <= min_tissue <= 1.0:
            raise ValueError(f"min_tissue must be in [0, 1], got {min_tissue!r}.")
        translator = model if isinstance(model, Translator) else load_model(model)
        translator.requires_grad_(False).eval()
        if ops is None:
            ops = default_policy(marker=translator.marker_index is not None)
        check_policy(ops, translator)
        # Stored outside the module tree: frozen generators are not the user's state.
        object.__setattr__(self, "translator", translator)
        self.ops = ops
        self.p = float(p)
        self.same_on_batch = same_on_batch
        self.device = None if device is None else torch.device(device)
        self.min_tissue = float(min_tissue)
        self.threads = check_threads(threads)
        self._seed = (
            mix_seed(int(seed)) if seed is not None else int(torch.randint(0, 2**62, ()).item())
        )
        self._generator = torch.Generator().manual_seed(self._seed)
        self._stream_key: tuple[Any, ...] = (os.getpid(), None)
        self._keys = set(self.sample_params(1).keys())
        self.params: Params | None = None

    # -- pickling (DataLoader workers, spawn) ---------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # torch.Generator objects do not survive a trip to a spawned process (their state
        # tensor goes through shared memory and fails there): carry the state as bytes.
        state = dict(super().__getstate__())
        state["_generator"] = bytes(self._generator.get_state().numpy().tobytes())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        raw = state.pop("_generator")
        super().__setstate__(state)
        self._generator = torch.Generator()
        self._generator.set_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8))

    # -- randomness -------------------------------------------------------------------------

    def set_random_state(self, seed: int | None = None, state: Any = None) -> RestainTransform:
        """Re-seed the transform's generator (MONAI's ``Randomizable`` interface).

        Args:
            seed: the new seed.
            state: a ``numpy.random.RandomState`` to draw the seed from (when ``seed`` is None).

        Returns:
            ``self``.
        """
        if seed is None:
            seed = (
                int(state.randint(0, 2**31 - 1))
                if state is not None
                else int(torch.randint(0, 2**62, ()).item())
            )
        self._seed = mix_seed(int(seed))
        self._generator.manual_seed(self._seed)
        self._stream_key = self._current_stream_key()
        return self

    @staticmethod
    def _current_stream_key() -> tuple[Any, ...]:
        info = torch.utils.data.get_worker_info()
        return (os.getpid(), None if info is None else (info.id, info.seed))

    def _stream(self) -> torch.Generator:
        # In a DataLoader worker (fork or spawn), give each worker its own reproducible stream:
        # the worker seed comes from the loader's base seed, drawn from torch's global RNG.
        key = self._current_stream_key()
        if key != self._stream_key:
            info = torch.utils.data.get_worker_info()
            if info is not None:
                self._generator.manual_seed(mix_seed(self._seed, info.seed))
            self._stream_key = key
        return self._generator

    def sample_params(self, batch_size: int) -> Params:
        """Draw the parameters of one call for ``batch_size`` samples (advances the generator).

        Returns:
            A flat dict of CPU tensors with the batch first: ``"apply"`` (the per-sample gate)
            and ``"ops.*"`` (the policy's parameters, see `restainaug.params`).
        """
        n = 1 if self.same_on_batch else batch_size
        params = draw_call(self.ops, n, self._stream(), self.p)
        if self.same_on_batch and batch_size != 1:
            params = {k: v.expand(batch_size, *v.shape[1:]) for k, v in params.items()}
        return params

    # -- application ------------------------------------------------------------------------

    def _translator_on(self, device: torch.device) -> Translator:
        tr: Translator = self.translator
        if tr.device != device:
            tr.to(device)
        return tr

    @torch.no_grad()
    def restain(
        self, batch: torch.Tensor, params: Params, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Re-stain a float batch with given params (every sample; no gate, no checks).

        Args:
            batch: float RGB in ``[0, 1]``.
            params: ``"ops.*"`` params for these samples.
            labels: float instance ids or ``None``.

        Shape:
            - batch: `(B, 3, H, W)`
            - labels: `(B, 1, H, W)`
            - output: `(B, 3, H, W)`
        """
        tr = self._translator_on(batch.device)
        dtype = next((t.dtype for t in (*tr.parameters(), *tr.buffers())), torch.float32)
        if_ = tr.to_if(batch.to(dtype))
        ctx = IFContext(if_, tr.nuclear_index, tr.marker_index, labels)
        out = tr.to_ihc(run(self.ops, if_, params, ctx, prefix=ROOT))
        return torch.nan_to_num(out.float(), nan=1.0).clamp_(0.0, 1.0)

    def forward(self, image: Any, labels: Any = None, params: Params | None = None) -> Any:
        """Re-stain ``image`` (a tensor or numpy array, single or batched).

        Args:
            image: the IHC image or batch (see the class docstring for layouts).
            labels: optional instance labels; marker operations then act on these nuclei.
            params: replay these parameters (from ``t.params``) instead of drawing new ones.

        Returns:
            The re-stained image, same type, layout, dtype and device as ``image``; ``image``
            itself when no sample is re-stained.
        """
        batch, layout = to_batch(image)
        b, _, h, w = batch.shape
        ids = None if labels is None else labels_to_batch(labels, b, h, w, layout.batched)
        params = self.sample_params(b) if params is None else check_params(params, self._keys, b)
        self.params = params
        active = params[APPLY].clone()
        if not bool(active.any()):
            return image
        device = self.device or batch.device
        n = resolve(self.threads, b * h * w) if device.type == "cpu" else None
        with cpu_threads(n):
            batch = batch.to(device)
            active &= (tissue_fraction(batch) >= max(self.min_tissue, 1e-12)).cpu()
            if not bool(active.any()):
                return image
            idx = active.nonzero()[:, 0]
            sub_params = index_params(op_params(params), idx)
            dev_idx = idx.to(device)
            sub_ids = None if ids is None else ids[idx].to(device)
            out = self.restain(batch[dev_idx], sub_params, sub_ids)
            return self._merge(image, from_batch(out, layout), idx, layout)

    @staticmethod
    def _merge(image: Any, native: Any, idx: torch.Tensor, layout: Layout) -> Any:
        if layout.numpy:
            if not layout.batched:
                return native[0]
            out = image.copy()
            out[idx.numpy()] = native
            return out
        with torch.no_grad():
            if not layout.batched and type(image) is torch.Tensor:
                return native[0]
            out = image.detach().clone()  # keeps tensor subclasses and their metadata
            if layout.batched:
                out[idx.to(out.device)] = native
            else:
                out.copy_(native[0])
            return out

    def extra_repr(self) -> str:
        return (
            f"model={self.translator.name!r}, p={self.p}, same_on_batch={self.same_on_batch}, "
            f"device={self.device}, threads={self.threads!r}, ops={self.ops!r}"
        )
