"""The four sections of a training config: data, model, optimisation and run settings.

Each section is a dataclass whose fields are the keys of its part of a config file
(``[data]``, ``[model]``, ``[optim]``, ``[run]``); `restainaug.train.config.TrainConfig`
gathers them, reads them from files and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SIZES", "TARGETS", "DataConfig", "ModelConfig", "OptimConfig", "RunConfig"]

#: What ``model.kind: unmix`` learns on DeepLIIF fields (see
#: `restainaug.train.unmix_data.deepliif_targets`).
TARGETS = ("gaps", "nuclei", "masks", "flat", "if")

#: Named model sizes: generator and discriminator configs. ``small`` is a CPU-friendly
#: ResNet generator, ``full`` the reference ``resnet_9blocks`` (ngf 64), ``fast`` the
#: context generator the default pretrained models use (cheap enough for CPU data loaders).
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "small": {
        "generator": {"type": "resnet", "ngf": 16, "n_blocks": 4, "n_down": 2},
        "discriminator": {"ndf": 32, "n_layers": 3},
    },
    "full": {
        "generator": {"type": "resnet", "ngf": 64, "n_blocks": 9, "n_down": 2},
        "discriminator": {"ndf": 64, "n_layers": 3},
    },
    "fast": {
        "generator": {
            "type": "context",
            "width": 8,
            "context_width": 32,
            "context_blocks": 3,
            "context_out": 16,
            "head_width": 16,
            "factor": 4,
        },
        "discriminator": {"ndf": 32, "n_layers": 3},
    },
}


@dataclass
class DataConfig:
    """Where the unpaired images come from, and the paired data used for validation.

    Attributes:
        ihc: IHC sources: image files or folders of RGB images (PNG, JPEG, TIFF).
        if_: IF sources (``"if"`` in files): multi-channel TIFF files, folders of them, or
            folders of single-channel images named by marker (``HH3.tiff``, ``HER2.tiff``).
        if_channels: which IF channels to use, ``{role: name or index}``: one
            ``"nuclear"`` (DAPI-like) and usually one ``"marker"``.
        if_smooth: Gaussian blur (pixels) applied to IF channels before normalising; use
            ``1``-``2`` for sparse ion-count images (MIBI); ``None`` for none.
        if_normalize: ``(low, high)`` percentiles of each IF channel mapped to 0 and 1.
        synthetic: number of synthetic fields added to *each* domain (IHC fields and IF
            fields drawn from different seeds, so they stay unpaired); ``0`` for none.
        synthetic_marker: marker localisation of the synthetic fields (``"membrane"``,
            ``"nuclear"``, ``"cytoplasmic"``, ``"none"``, ``"mixed"`` to alternate the first
            three, or a list of them to cycle through).
        synthetic_size: side of the synthetic fields in pixels.
        paired_synthetic: number of synthetic fields used as *paired* examples (IHC with its
            exact IF): for the supervised term weighted by ``optim.lambda_paired``, and the
            synthetic training data of ``model.kind: unmix``.
        paired_deepliif: DeepLIIF six-panel PNGs used as paired real training data by
            ``model.kind: unmix`` (IHC and hematoxylin-only panels with targets made from the
            annotation, see `restainaug.train.unmix_data.deepliif_targets`).
        target: what the unmixing network learns on ``paired_deepliif``: ``"gaps"``,
            ``"nuclei"``, ``"masks"``, ``"flat"`` or ``"if"`` (`deepliif_targets`).
        register: move the panels of ``paired_deepliif`` into the IHC panel's frame first.
        stain_jitter: random stain jitter of every training batch (``model.kind: unmix``).
        patch_size: side of the random training crops.
        flips: random flips and 90-degree rotations of the crops.
        val_synthetic: number of synthetic fields with exact IF ground truth for validation.
        val_deepliif: DeepLIIF training PNGs (or folders of them) for validation: real IHC
            with co-registered DAPI and marker.
        val_ihc: folder of IHC images paired by file name with ``val_if`` for validation.
        val_if: folder of IF images (multi-channel TIFF) paired with ``val_ihc``.
        val_size: validation fields are centre-cropped to at most this side.
        workers: ``DataLoader`` worker processes per training process.
    """

    ihc: list[str] = field(default_factory=list)
    if_: list[str] = field(default_factory=list)
    if_channels: dict[str, Any] = field(
        default_factory=lambda: {"nuclear": "DAPI", "marker": "marker"}
    )
    if_smooth: float | None = None
    if_normalize: tuple[float, float] = (1.0, 99.8)
    synthetic: int = 0
    synthetic_marker: str | list[str] = "mixed"
    synthetic_size: int = 256
    paired_synthetic: int = 0
    paired_deepliif: list[str] = field(default_factory=list)
    target: str = "gaps"
    register: bool = True
    stain_jitter: bool = True
    patch_size: int = 256
    flips: bool = True
    val_synthetic: int = 0
    val_deepliif: list[str] = field(default_factory=list)
    val_ihc: str | None = None
    val_if: str | None = None
    val_size: int = 512
    workers: int = 0


@dataclass
class ModelConfig:
    """The networks.

    Attributes:
        kind: ``"cyclegan"``: IHC <-> IF generators fitted on unpaired images (with optional
            paired terms); ``"unmix"``: the shipped default's architecture, an unmixing
            network (`restainaug.models.unmix.UnmixGenerator`) trained with supervision on
            paired data, rendered back by optics (`restainaug.models.stain_renderer.StainRenderer`).
        od_input: ``kind: unmix``: also give the network the colour deconvolution of its input.
        init: ``kind: unmix``: start from this model's network (a name such as ``"default"``
            or a model card path); its network config and ``od_input`` replace ``size``,
            ``generator`` and ``od_input``. With ``data.ihc`` this adapts the model to those
            unlabelled tiles (`restainaug.train.adapt`).
        size: a named size in `SIZES` (``"small"``, ``"full"``, ``"fast"``).
        generator: keys that replace those of the size's generator config (e.g.
            ``{"ngf": 32}``); ``in_channels``/``out_channels`` are set from the data.
        discriminator: keys that replace those of the size's PatchGAN config
            (``ndf``, ``n_layers``).
        residual_channels: latent IF channels (role ``"other"``) added after the data's
            channels: what the stains do not explain (texture, scanner noise), like the
            residual of the optical translator. The discriminator never sees them; real IF
            enters the IF -> IHC generator with them at zero; ``optim.lambda_residual``
            keeps them small. Re-staining operations leave them alone, so re-stained images
            keep the texture of the original.
    """

    kind: str = "cyclegan"
    od_input: bool = True
    init: str | None = None
    size: str = "small"
    generator: dict[str, Any] = field(default_factory=dict)
    discriminator: dict[str, Any] = field(default_factory=dict)
    residual_channels: int = 0

    def generator_config(self, in_channels: int, out_channels: int) -> dict[str, Any]:
        """The generator config dict for `restainaug.models.architectures.build_generator`."""
        base = dict(SIZES[self.size]["generator"])
        base.update(self.generator)
        base.update(in_channels=in_channels, out_channels=out_channels)
        return base

    def discriminator_config(self) -> dict[str, Any]:
        """Keyword arguments of `restainaug.train.networks.PatchDiscriminator`."""
        base = dict(SIZES[self.size]["discriminator"])
        base.update(self.discriminator)
        return base


@dataclass
class OptimConfig:
    """Losses and optimisation (CycleGAN defaults where they exist).

    Attributes:
        steps: optimisation steps in total (each step: one generator and one
            discriminator update on one batch).
        decay_steps: the last ``decay_steps`` steps decay the learning rate linearly to 0
            (constant before); ``None`` decays over the second half.
        batch_size: patches per step and process (the global batch is ``batch_size`` times
            the number of processes).
        lr: Adam learning rate of all networks.
        beta1: Adam beta 1.
        beta2: Adam beta 2.
        lambda_cycle: weight of each cycle-consistency L1 term.
        lambda_identity: weight of the identity terms, relative to ``lambda_cycle``.
        identity: ``"auto"``, ``"same"``, ``"optical"`` or ``"none"``: how the identity
            loss is defined between 3-channel IHC and C-channel IF (see the training docs).
        optical_scale: IF value (nominal scale) of one unit of optical density, used by the
            ``"optical"`` identity stand-in.
        lambda_residual: weight of the L1 penalty on the latent residual channels
            (``model.residual_channels``).
        lambda_paired: weight of the supervised L1 term ``|G_A(a) - b|`` (IHC -> IF) on
            paired synthetic fields (0: plain unpaired CycleGAN).
        lambda_paired_ihc: weight of the IF -> IHC term ``|G_B(b) - a|``; ``None`` uses
            ``lambda_paired``. ``0`` leaves the IHC rendering to the unpaired terms, so it
            is not pulled towards the look of synthetic tissue.
        schedule: learning-rate schedule: ``"linear"`` (constant, then the linear decay of
            ``decay_steps``) or ``"onecycle"`` (`torch.optim.lr_scheduler.OneCycleLR` over
            all steps, peaking at ``lr``).
        gap_weight: ``model.kind: unmix``: extra loss weight on the two-pixel band around
            each target nucleus, so that touching nuclei stay apart (0: none).
        lambda_unlabelled: ``model.kind: unmix`` with ``data.ihc``: weight of the term that
            asks the network for the starting model's channels on stain-jittered unlabelled
            tiles (`restainaug.train.adapt`).
        lambda_init: adaptation: weight of the mean squared distance of the weights from the
            starting model's (0: none).
        pool_size: images kept in each image pool (0 disables the pool).
        grad_clip: clip the gradient norm of each network group; ``None`` for no clipping.
    """

    steps: int = 20000
    decay_steps: int | None = None
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    identity: str = "auto"
    optical_scale: float = 1.5
    lambda_paired: float = 0.0
    lambda_paired_ihc: float | None = None
    lambda_residual: float = 1.0
    schedule: str = "linear"
    gap_weight: float = 0.0
    lambda_unlabelled: float = 1.0
    lambda_init: float = 0.0
    pool_size: int = 50
    grad_clip: float | None = None


@dataclass
class RunConfig:
    """Where and how a run executes.

    Attributes:
        out: the run folder (config, logs, samples, checkpoints, exported models).
        seed: seed of initialisation, data and image pools; the same seed and settings
            give the same run.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...
        amp: mixed precision: ``"auto"`` (bf16 on CUDA when supported, else fp16; none on
            CPU), ``"bf16"``, ``"fp16"`` or ``"none"``.
        deterministic: ask torch for deterministic algorithms (exact resume on GPU too,
            slower there).
        threads: torch CPU threads per process during training steps: ``"auto"`` times a few
            steps on torch's setting and on one thread every 30 s
            and trains on the faster (one wins when other processes keep the cores busy;
            see `restainaug.threads.AdaptiveThreads`), an int
            fixes the count, ``None`` leaves torch's setting. Bitwise-exact reruns and
            resumes on the CPU need a fixed count (``deterministic`` fixes ``"auto"`` to
            torch's setting).
        log_every: steps between CSV / TensorBoard log rows.
        sample_every: steps between PNG sample grids (0: never).
        val_every: steps between validations (0: only at the end).
        checkpoint_every: steps between checkpoints (and always at the end).
        keep_checkpoints: older numbered checkpoints kept besides ``last.pt``.
        progress: show a progress bar.
        tensorboard: also log to TensorBoard when it is installed.
    """

    out: str = "runs/restain"
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    deterministic: bool = False
    threads: int | str | None = "auto"
    log_every: int = 50
    sample_every: int = 1000
    val_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 0
    progress: bool = True
    tensorboard: bool = True
