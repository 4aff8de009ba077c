"""The trainer of ``model.kind: unmix``: the shipped default's network, trained with supervision.

`UnmixTrainer` fits an `restainaug.models.unmix.UnmixGenerator` (a small context network that
predicts a DAPI-like nuclear channel and the marker from brightfield IHC) to the targets of
`restainaug.train.unmix_data`: an L1 + L2 loss, weighted more on the gaps between nuclei
(``optim.gap_weight``), on stain-jittered patches. The way back (IF -> IHC) is optics
(`restainaug.models.stain_renderer.StainRenderer`), so it has nothing to learn; its two gains
(optical density per unit of the predicted channels) are measured on the first real training
field whenever a checkpoint is written (`render_config`), and `restainaug.train.export_run`
writes them into the model.

It offers `restainaug.train.fit` the interface of `restainaug.train.trainer.Trainer`:
``fit_step``, ``validate``, ``samples``, ``step``, ``lr`` and the checkpoint state.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..models.tiling import pad_to_multiple
from ..models.unmix import UNMIX_CHANNELS, UnmixGenerator
from ..stains import OpticalTranslator
from ..translator import Channel
from .adapt import init_network
from .data import centre_crop
from .distributed import Distributed
from .trainer import make_scheduler
from .unmix_data import Pair, gap_weights, stain_jitter

if TYPE_CHECKING:
    from ..evaluation.fields import EvalField
    from .config import TrainConfig

__all__ = ["UnmixTrainer"]

#: Gains of `StainRenderer` when a run has no real field to measure them on.
DEFAULT_GAINS = (0.5, 0.8)


class UnmixTrainer:
    """The unmixing network, its optimiser and schedule, for one training process.

    Args:
        config: the run configuration (``model.kind: unmix``).
        dist: this process's place in the run.
        real: the real training pairs (the first one measures the renderer's gains).
        tiles: unlabelled IHC tiles of adaptation (the first one then measures the gains).
    """

    def __init__(
        self,
        config: TrainConfig,
        dist: Distributed,
        real: Sequence[Pair] = (),
        tiles: Sequence[np.ndarray] = (),
    ):
        self.config, self.dist, self.device = config, dist, dist.device
        o, m = config.optim, config.model
        self.channels = tuple(Channel(n, r) for n, r in UNMIX_CHANNELS)  # type: ignore[arg-type]
        self.nuclear_index, self.marker_index = 0, 1
        self.od_input = m.od_input
        self.net_config = {
            k: v
            for k, v in m.generator_config(3, 2).items()
            if k not in ("in_channels", "out_channels")
        }
        initial = None
        if m.init is not None:
            initial, self.net_config, self.od_input = init_network(m.init)
        torch.manual_seed(config.run.seed)
        self.net = UnmixGenerator(net=self.net_config, od_input=self.od_input).to(self.device)
        # The teacher of adaptation: the starting network, frozen.
        self.teacher: UnmixGenerator | None = None
        if initial is not None:
            self.net.load_state_dict(initial)
            self.teacher = copy.deepcopy(self.net).eval().requires_grad_(False)
        self.multiple = self.net.multiple
        self.net_ddp: nn.Module = self.net
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net_ddp = DDP(self.net, device_ids=ids)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
        self.sched = make_scheduler(self.opt, o)
        self.optical = OpticalTranslator().to(self.device)
        self.real, self.tiles = list(real), list(tiles)
        self.render = {"gain_nuclear": DEFAULT_GAINS[0], "gain_marker": DEFAULT_GAINS[1]}
        self.step = 0

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """No mixed precision: the network is small and trains in fp32."""
        return contextlib.nullcontext()

    def _jitter_generator(self, stream: int = 0) -> torch.Generator:
        seq = np.random.SeedSequence((self.config.run.seed, self.dist.rank, self.step, stream))
        return torch.Generator().manual_seed(int(seq.generate_state(1, np.uint64)[0] >> 1))

    def fit_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step on ``batch["ihc"]`` (``[0, 1]``) and ``batch["target"]``.

        With unlabelled ``batch["tile"]`` (adaptation), the network also learns to predict the
        teacher's channels of each tile from a stain-jittered copy of it.
        """
        result: dict[str, float] = {}
        loss = torch.zeros((), device=self.device)
        if "ihc" in batch:
            x = batch["ihc"].to(self.device, non_blocking=True)
            y = batch["target"].to(self.device, non_blocking=True)
            if self.config.data.stain_jitter:
                x = stain_jitter(x, self._jitter_generator(), self.optical)
            pred = self._predict(x * 2.0 - 1.0)
            err = (pred - y).abs() + (pred - y) ** 2
            loss = (err * gap_weights(y, self.config.optim.gap_weight)).mean()
            result["L_unmix"] = float(loss.detach())
        if "tile" in batch and self.teacher is not None:
            t = batch["tile"].to(self.device, non_blocking=True)
            with torch.no_grad():
                target = self.teacher.predict(t * 2.0 - 1.0)
            gen = self._jitter_generator(1)
            jittered = stain_jitter(t, gen, self.optical)
            # Half the tiles stay as they are, which anchors the predictions on the slides.
            keep = torch.rand(t.shape[0], 1, 1, 1, generator=gen).to(t.device) < 0.5
            jittered = torch.where(keep, t, jittered)
            diff = self._predict(jittered * 2.0 - 1.0) - target
            unlabelled = (diff.abs() + diff**2).mean()
            result["L_unlabelled"] = float(unlabelled.detach())
            loss = loss + self.config.optim.lambda_unlabelled * unlabelled
            if self.config.optim.lambda_init > 0:
                drift = sum(
                    ((p - q) ** 2).sum()
                    for p, q in zip(self.net.parameters(), self.teacher.parameters(), strict=True)
                ) / sum(p.numel() for p in self.net.parameters())
                result["L_init"] = float(drift.detach())
                loss = loss + self.config.optim.lambda_init * drift
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.config.optim.grad_clip
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip)
        self.opt.step()
        self.sched.step()
        self.step += 1
        return result

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.net_ddp is self.net:
            return self.net.predict(x)
        # DDP wraps forward only: predict through it so that gradients are synchronised.
        return (self.net_ddp(x)[:, :2] + 1.0) * 0.5

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return float(self.opt.param_groups[0]["lr"])

    # -- validation and samples --------------------------------------------------------------
    @torch.no_grad()
    def _channels(self, ihc: np.ndarray, net: UnmixGenerator | None = None) -> np.ndarray:
        """Predicted nuclear and marker channels of a ``uint8`` RGB image, ``(2, H, W)``."""
        net = self.net if net is None else net
        h, w = ihc.shape[:2]
        k = self.multiple
        x = torch.from_numpy(ihc).permute(2, 0, 1)[None].float().to(self.device) / 127.5 - 1.0
        x = pad_to_multiple(x, k)
        was_training = net.training
        net.eval()
        try:
            return net.predict(x)[0, :, :h, :w].float().cpu().numpy()
        finally:
            net.train(was_training)

    def validate(
        self, fields: Sequence[EvalField], net: UnmixGenerator | None = None
    ) -> dict[str, float]:
        """Nuclear AUC, Otsu Dice and marker AUC of the predicted channels, mean over fields.

        ``net``: another network to score on the same fields (default: the one being trained).
        """
        from ..evaluation.scoring import marker_auc, nuclear_scores

        out: dict[str, list[float]] = {}
        for f in fields:
            p = self._channels(f.ihc, net)
            scores = nuclear_scores(p[0], f, 2**18)
            if f.positive is not None:
                scores["marker_auc"] = marker_auc(p[1], f)
            for k, v in scores.items():
                out.setdefault(k, []).append(v)
        return {k: float(np.nanmean(v)) for k, v in out.items()}

    def samples(self, fields: Sequence[EvalField], size: int) -> np.ndarray:
        """Rows of ``IHC | predicted nuclear | predicted marker | IHC | annotated nuclei``."""
        from .logs import sample_grid

        crops = [np.ascontiguousarray(f.ihc[:size, :size]) for f in fields[:4]]
        ihc = torch.stack([torch.from_numpy(c).permute(2, 0, 1).float() / 255.0 for c in crops])
        pred = torch.stack([torch.from_numpy(self._channels(c)) for c in crops])
        truth = [
            (torch.from_numpy((f.labels[:size, :size] > 0).astype(np.float32)), None)
            for f in fields[:4]
        ]
        return sample_grid(ihc, pred, ihc, 0, 1, truth)

    @torch.no_grad()
    def render_config(self) -> dict[str, float]:
        """`StainRenderer` gains: the median optical density per unit of each predicted
        channel where it exceeds 0.5, over the unlabelled tiles (their centre 512x512), else
        the first real training image (see the module)."""
        images = [t for t in self.tiles] or [p[0] for p in self.real[:1]]
        if not images:
            return dict(self.render)
        parts = []
        self.net.eval()
        try:
            for ihc in images:
                x = torch.from_numpy(ihc).permute(2, 0, 1)[None].float().to(self.device)
                x = centre_crop(x, 512, self.multiple)
                parts.append(((self.net(x / 127.5 - 1.0)[0] + 1.0) * 0.5).flatten(1).cpu())
        finally:
            self.net.train()
        v = torch.cat(parts, dim=1)
        gains = []
        for pred, od, default in ((v[0], v[4], DEFAULT_GAINS[0]), (v[1], v[5], DEFAULT_GAINS[1])):
            sel = pred > 0.5
            ratio = float(od[sel].median() / pred[sel].median()) if int(sel.sum()) > 100 else 0.0
            gains.append(round(ratio, 3) if math.isfinite(ratio) and ratio > 0 else default)
        self.render = {"gain_nuclear": gains[0], "gain_marker": gains[1]}
        return dict(self.render)

    # -- state ------------------------------------------------------------------------------
    def local_state(self) -> dict[str, Any]:
        """Nothing differs between processes (the jitter is drawn from the step)."""
        return {}

    def state_dict(self, local_states: list[dict[str, Any]]) -> dict[str, Any]:
        """The full checkpoint; the renderer's gains are measured now."""
        return {
            "step": self.step,
            "config": self.config.to_dict(),
            "channels": [{"name": c.name, "role": c.role} for c in self.channels],
            "generators": self.net.state_dict(),
            "net": self.net_config,
            "render": self.render_config(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "world": self.dist.world,
            "local": local_states,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint written by `state_dict`.

        Raises:
            ValueError: if the checkpoint's network does not match this run's.
        """
        try:
            self.net.load_state_dict(state["generators"])
        except (RuntimeError, KeyError) as e:
            raise ValueError(f"The checkpoint's network does not match the config: {e}") from None
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.render = dict(state.get("render", self.render))
        self.step = int(state["step"])
