"""The CycleGAN training loop: one `Trainer` per process, `fit` to run it.

One step (Zhu et al., 2017, Sec. 4 and the reference implementation's ``optimize_parameters``):

1. generator update, discriminators frozen:
   ``L_G = L_GAN(G_A, D_A) + L_GAN(G_B, D_B) + lambda_cycle (|G_B(G_A(a)) - a| +
   |G_A(G_B(b)) - b|) + lambda_identity lambda_cycle L_idt`` (Eqn. 3 plus the identity term);
2. discriminator update on real images and fakes drawn from the image pools:
   ``L_D = (L_GAN(D, real) + L_GAN(D, pool(fake))) / 2`` for each discriminator.

The identity terms between 3-channel IHC and C-channel IF (``optim.identity``) take their
inputs from `restainaug.train.identity`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ..stains import OpticalTranslator
from ..translator import Channel
from .config import OptimConfig, TrainConfig
from .distributed import Distributed
from .identity import identity_inputs, identity_mode
from .losses import cycle_loss, gan_loss, identity_loss
from .networks import CycleGenerators, Discriminators, init_weights
from .pool import ImagePool

__all__ = ["Trainer", "linear_decay", "make_scheduler"]


def _amp_dtype(requested: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or requested == "none":
        return None
    if requested == "fp16" or (requested == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def linear_decay(steps: int, decay_steps: int) -> Callable[[int], float]:
    """Constant learning rate, then linear decay to 0 over the last ``decay_steps`` steps."""
    start = steps - decay_steps

    def factor(step: int) -> float:
        return 1.0 if step < start else max(0.0, 1.0 - (step - start) / max(1, decay_steps))

    return factor


def make_scheduler(opt: torch.optim.Optimizer, optim: OptimConfig) -> Any:
    """The learning-rate scheduler of ``optim.schedule`` for ``opt`` (stepped once per step)."""
    if optim.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, optim.lr, total_steps=optim.steps)
    decay = optim.steps // 2 if optim.decay_steps is None else optim.decay_steps
    return torch.optim.lr_scheduler.LambdaLR(opt, linear_decay(optim.steps, decay))


class Trainer:
    """The networks, optimisers, schedulers, pools and RNG of one training process.

    Args:
        config: the run configuration.
        channels: the IF channels (names and roles) of the data.
        dist: this process's place in the run (see `setup_distributed`).

    Raises:
        ValueError: for ``optim.identity="same"`` with an IF domain that is not 3-channel.
    """

    def __init__(self, config: TrainConfig, channels: tuple[Channel, ...], dist: Distributed):
        self.config, self.channels, self.dist = config, tuple(channels), dist
        o, device = config.optim, dist.device
        self.device = device
        c = len(self.channels)
        roles = [ch.role for ch in self.channels]
        self.nuclear_index = roles.index("nuclear")
        self.marker_index = roles.index("marker") if "marker" in roles else None
        self.identity = identity_mode(o.identity, c)
        self.optical = OpticalTranslator(residual="absolute").to(device)
        init = torch.Generator().manual_seed(config.run.seed)
        r = config.model.residual_channels
        self.gens = CycleGenerators(
            config.model.generator_config(3, c + r), config.model.generator_config(c + r, 3), r
        )
        self.discs = Discriminators(c, **config.model.discriminator_config())
        for net in (self.gens, self.discs):
            init_weights(net, generator=init)
            net.to(device)
        if device.type == "cuda":
            self.gens.to(memory_format=torch.channels_last)
            self.discs.to(memory_format=torch.channels_last)
        self.gens_ddp: nn.Module = self.gens
        self.discs_ddp: nn.Module = self.discs
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            self.gens_ddp = DDP(self.gens, device_ids=ids)
            self.discs_ddp = DDP(self.discs, device_ids=ids)
        betas = (o.beta1, o.beta2)
        self.opt_g = torch.optim.Adam(self.gens.parameters(), lr=o.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discs.parameters(), lr=o.lr, betas=betas)
        self.sched_g = make_scheduler(self.opt_g, o)
        self.sched_d = make_scheduler(self.opt_d, o)
        self.amp = _amp_dtype(config.run.amp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        seed = config.run.seed * 1000 + dist.rank
        self.pool_if = ImagePool(o.pool_size, seed=2 * seed)
        self.pool_ihc = ImagePool(o.pool_size, seed=2 * seed + 1)
        self.step = 0

    # -- one step ---------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The mixed-precision context of this run's forward passes (``run.amp``)."""
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp)

    def _clip(self, params: Iterator[nn.Parameter]) -> None:
        clip = self.config.optim.grad_clip
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(params), clip)

    def fit_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """`train_step` on a batch of `restainaug.train.batches.TrainPatches` items."""
        return self.train_step(
            batch["ihc"], batch["if"], batch.get("pair_ihc"), batch.get("pair_if")
        )

    def train_step(
        self,
        ihc: torch.Tensor,
        if_: torch.Tensor,
        pair_ihc: torch.Tensor | None = None,
        pair_if: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """One generator and one discriminator update on a batch; returns the losses.

        Args:
            ihc: IHC patches, ``(B, 3, H, W)`` in ``[0, 1]``.
            if_: IF patches, ``(B, C, H, W)`` on the nominal scale (clipped to ``[0, 1]``).
            pair_ihc: IHC of paired examples for the supervised term (``optim.lambda_paired``).
            pair_if: their IF.

        Returns:
            Loss values (floats) named as in the reference (``G_A``, ``cycle_A``, ``D_A`` ...).
        """
        o = self.config.optim
        c_data = len(self.channels)
        fmt = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        a = (ihc.to(self.device, non_blocking=True) * 2 - 1).contiguous(memory_format=fmt)
        b = (if_.to(self.device, non_blocking=True).clamp(0, 1) * 2 - 1).contiguous(
            memory_format=fmt
        )
        idt_if, idt_ihc = identity_inputs(
            self.identity,
            a,
            b,
            self.optical,
            self.nuclear_index,
            self.marker_index,
            o.optical_scale,
        )
        w_idt = o.lambda_identity * o.lambda_cycle if self.identity != "none" else 0.0
        pa = pb = None
        w_ihc = o.lambda_paired if o.lambda_paired_ihc is None else o.lambda_paired_ihc
        if o.lambda_paired > 0 and pair_ihc is not None and pair_if is not None:
            pa = (pair_ihc.to(self.device) * 2 - 1).contiguous(memory_format=fmt)
            pb = (pair_if.to(self.device).clamp(0, 1) * 2 - 1).contiguous(memory_format=fmt)

        # 1. Generators (Eqn. 3), discriminators frozen and outside DDP.
        self.discs.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            out = self.gens_ddp(
                a,
                b,
                idt_ihc if w_idt else None,
                idt_if if w_idt else None,
                pa,
                pb if w_ihc else None,  # G_B(pair_if) only when its term counts
            )
            d_fake_if, d_fake_ihc = self.discs(out["fake_if"], out["fake_ihc"])
            losses = {
                "G_A": gan_loss(d_fake_if, True),  # D_A(G_A(A))
                "G_B": gan_loss(d_fake_ihc, True),  # D_B(G_B(B))
                "cycle_A": cycle_loss(out["rec_ihc"], a) * o.lambda_cycle,  # |G_B(G_A(A)) - A|
                "cycle_B": cycle_loss(out["rec_if"], b) * o.lambda_cycle,  # |G_A(G_B(B)) - B|
            }
            if w_idt:
                losses["idt_A"] = identity_loss(out["idt_if"], b) * w_idt  # G_A(B) ~ B
                losses["idt_B"] = identity_loss(out["idt_ihc"], a) * w_idt  # G_B(A) ~ A
            if self.gens.residual and o.lambda_residual:
                residual = out["fake_if_full"][:, c_data:]
                losses["residual"] = residual.float().abs().mean() * o.lambda_residual
            if pa is not None and pb is not None:
                losses["paired_A"] = identity_loss(out["pair_if"], pb) * o.lambda_paired
                if w_ihc:
                    losses["paired_B"] = identity_loss(out["pair_ihc"], pa) * w_ihc
            loss_g = sum(losses.values())
        self.scaler.scale(loss_g).backward()
        self.scaler.unscale_(self.opt_g)
        self._clip(self.gens.parameters())
        self.scaler.step(self.opt_g)

        # 2. Discriminators on real images and pooled fakes, in one forward (DDP).
        self.discs.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        fake_if = self.pool_if.query(out["fake_if"].float())
        fake_ihc = self.pool_ihc.query(out["fake_ihc"].float())
        n = a.shape[0]
        with self.autocast():
            p_if, p_ihc = self.discs_ddp(torch.cat([b, fake_if]), torch.cat([a, fake_ihc]))
            losses["D_A"] = (gan_loss(p_if[:n], True) + gan_loss(p_if[n:], False)) * 0.5
            losses["D_B"] = (gan_loss(p_ihc[:n], True) + gan_loss(p_ihc[n:], False)) * 0.5
        self.scaler.scale(losses["D_A"] + losses["D_B"]).backward()
        self.scaler.unscale_(self.opt_d)
        self._clip(self.discs.parameters())
        self.scaler.step(self.opt_d)
        self.scaler.update()
        self.sched_g.step()
        self.sched_d.step()
        self.step += 1
        result = {k: float(v.detach()) for k, v in losses.items()}
        result["G"] = float(loss_g.detach())
        return result

    @property
    def lr(self) -> float:
        """The generators' current learning rate."""
        return float(self.opt_g.param_groups[0]["lr"])

    # -- state ------------------------------------------------------------------------------
    def local_state(self) -> dict[str, Any]:
        """What differs between processes: image pools and RNG states."""
        state: dict[str, Any] = {
            "pool_if": self.pool_if.state_dict(),
            "pool_ihc": self.pool_ihc.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def state_dict(self, local_states: list[dict[str, Any]]) -> dict[str, Any]:
        """The full checkpoint (call with every rank's `local_state`, in rank order)."""
        return {
            "step": self.step,
            "config": self.config.to_dict(),
            "channels": [{"name": c.name, "role": c.role} for c in self.channels],
            "generators": self.gens.state_dict(),
            "discriminators": self.discs.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "world": self.dist.world,
            "local": local_states,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint written by `state_dict`.

        Raises:
            ValueError: if the checkpoint's networks do not match this run's.
        """
        try:
            self.gens.load_state_dict(state["generators"])
            self.discs.load_state_dict(state["discriminators"])
        except RuntimeError as e:
            raise ValueError(f"The checkpoint's networks do not match the config: {e}") from None
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        local = state["local"]
        if len(local) == self.dist.world:
            mine = local[self.dist.rank]
            self.pool_if.load_state_dict(mine["pool_if"], self.device)
            self.pool_ihc.load_state_dict(mine["pool_ihc"], self.device)
            torch.set_rng_state(mine["torch_rng"])
            if "cuda_rng" in mine and self.device.type == "cuda":
                torch.cuda.set_rng_state(mine["cuda_rng"], self.device)
        elif self.dist.main:
            import warnings

            warnings.warn(
                f"Resuming a {len(local)}-process run with {self.dist.world} processes: image "
                "pools start empty and the data stream changes; the run continues, not exactly.",
                stacklevel=2,
            )


def set_determinism(deterministic: bool, threads: int | str | None) -> None:
    """Thread count and deterministic algorithms, before any network is built."""
    if isinstance(threads, int):
        torch.set_num_threads(int(threads))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
