"""The typed configuration of a training run: dataclasses, files, command-line overrides.

A run is described by one `TrainConfig` made of four sections (`DataConfig`,
`ModelConfig`, `OptimConfig`, `RunConfig`). It is read from a JSON or YAML file
(`load_config`), changed with dotted ``section.field=value`` overrides
(`apply_overrides`), and saved with the run (``RUN/config.json``) and inside every
checkpoint, so a run can always be continued or reproduced from its folder alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SIZES",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "load_config",
]

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
            ``"nuclear"``, ``"cytoplasmic"``, ``"none"`` or ``"mixed"`` to alternate).
        synthetic_size: side of the synthetic fields in pixels.
        paired_synthetic: number of synthetic fields used as *paired* examples (IHC with its
            exact IF) for the supervised term weighted by ``optim.lambda_paired``.
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
    synthetic_marker: str = "mixed"
    synthetic_size: int = 256
    paired_synthetic: int = 0
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
        threads: torch CPU threads per process during training steps: ``"auto"`` measures
            every 30 s whether torch's setting or one thread is faster (one wins when other
            processes keep the cores busy; see `restainaug.threads.AdaptiveThreads`), an int
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


@dataclass
class TrainConfig:
    """Everything a training run needs; saved with the run and in every checkpoint.

    Examples:
        >>> cfg = TrainConfig()
        >>> cfg = apply_overrides(cfg, ["optim.steps=100", "model.size=fast"])
        >>> cfg.optim.steps, cfg.model.size
        (100, 'fast')
        >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``data.if_`` is written as ``"if"``)."""
        d = dataclasses.asdict(self)
        d["data"]["if"] = d["data"].pop("if_")
        d["data"]["if_normalize"] = list(d["data"]["if_normalize"])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "training config") -> TrainConfig:
        """Build and check a config from parsed JSON/YAML.

        Raises:
            ValueError: for unknown sections or fields (the message lists the known ones)
                and for invalid values.
        """
        if not isinstance(data, dict):
            raise ValueError(
                f"{source}: expected a mapping of sections, got {type(data).__name__}."
            )
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ValueError(f"{source}: unknown sections {unknown}; known: {sorted(sections)}.")
        parts: dict[str, Any] = {}
        for name, section_cls in _SECTIONS.items():
            values = dict(data.get(name) or {})
            if name == "data" and "if" in values:
                values["if_"] = values.pop("if")
            known = {f.name for f in dataclasses.fields(section_cls)}
            bad = sorted(set(values) - known)
            if bad:
                shown = sorted("if" if k == "if_" else k for k in known)
                raise ValueError(f"{source}: unknown fields {bad} in [{name}]; known: {shown}.")
            if name == "data" and "if_normalize" in values:
                values["if_normalize"] = tuple(values["if_normalize"])
            parts[name] = section_cls(**values)
        cfg = cls(**parts)
        cfg.check(source)
        return cfg

    def check(self, source: str = "training config") -> None:
        """Validate values that would otherwise fail late, with messages that name the field.

        Raises:
            ValueError: for an invalid value.
        """
        d, m, o, r = self.data, self.model, self.optim, self.run

        def bad(name: str, expected: str, got: Any) -> ValueError:
            return ValueError(f"{source}: {name}: expected {expected}, got {got!r}.")

        if m.size not in SIZES:
            raise bad("model.size", f"one of {sorted(SIZES)}", m.size)
        for name, value, lo in (
            ("data.patch_size", d.patch_size, 8),
            ("data.synthetic_size", d.synthetic_size, 32),
            ("data.val_size", d.val_size, 8),
            ("optim.steps", o.steps, 1),
            ("optim.batch_size", o.batch_size, 1),
            ("run.log_every", r.log_every, 1),
            ("run.checkpoint_every", r.checkpoint_every, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise bad(name, f"an int >= {lo}", value)
        for name, value in (
            ("data.synthetic", d.synthetic),
            ("data.paired_synthetic", d.paired_synthetic),
            ("model.residual_channels", m.residual_channels),
            ("data.val_synthetic", d.val_synthetic),
            ("data.workers", d.workers),
            ("optim.pool_size", o.pool_size),
            ("run.sample_every", r.sample_every),
            ("run.val_every", r.val_every),
            ("run.keep_checkpoints", r.keep_checkpoints),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(name, "an int >= 0", value)
        if o.decay_steps is not None and not 0 <= o.decay_steps <= o.steps:
            raise bad("optim.decay_steps", f"None or 0..{o.steps} (optim.steps)", o.decay_steps)
        if not o.lambda_residual >= 0:
            raise bad("optim.lambda_residual", "a number >= 0", o.lambda_residual)
        if o.lambda_paired_ihc is not None and not o.lambda_paired_ihc >= 0:
            raise bad("optim.lambda_paired_ihc", "None or a number >= 0", o.lambda_paired_ihc)
        if not o.lambda_paired >= 0:
            raise bad("optim.lambda_paired", "a number >= 0", o.lambda_paired)
        if o.lambda_paired > 0 and d.paired_synthetic == 0:
            raise ValueError(
                f"{source}: optim.lambda_paired > 0 needs paired examples: set "
                "data.paired_synthetic (number of synthetic fields)."
            )
        if not o.lr > 0:
            raise bad("optim.lr", "a positive number", o.lr)
        if o.identity not in ("auto", "same", "optical", "none"):
            raise bad("optim.identity", "'auto', 'same', 'optical' or 'none'", o.identity)
        if r.threads is not None and r.threads != "auto":
            if isinstance(r.threads, bool) or not isinstance(r.threads, int) or r.threads < 1:
                raise bad("run.threads", "'auto', an int >= 1 or null", r.threads)
        if r.amp not in ("auto", "bf16", "fp16", "none"):
            raise bad("run.amp", "'auto', 'bf16', 'fp16' or 'none'", r.amp)
        markers = ("membrane", "nuclear", "cytoplasmic", "none", "mixed")
        if d.synthetic_marker not in markers:
            raise bad("data.synthetic_marker", f"one of {markers}", d.synthetic_marker)
        if not isinstance(d.if_channels, dict) or "nuclear" not in d.if_channels:
            raise bad("data.if_channels", "a mapping with a 'nuclear' entry", d.if_channels)
        if (d.val_ihc is None) != (d.val_if is None):
            raise ValueError(f"{source}: data.val_ihc and data.val_if go together; set both.")

    def check_data(self, source: str = "training config") -> None:
        """Check that the config names training images for both domains (`fit` calls it).

        Raises:
            ValueError: when ``data.ihc`` or ``data.if`` is empty and ``data.synthetic`` is 0.
        """
        d = self.data
        if not (d.ihc or d.synthetic):
            raise ValueError(
                f"{source}: no IHC training images: set data.ihc (files or folders) or "
                "data.synthetic (number of synthetic fields)."
            )
        if not (d.if_ or d.synthetic):
            raise ValueError(
                f"{source}: no IF training images: set data.if (files or folders) or "
                "data.synthetic (number of synthetic fields)."
            )


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "run": RunConfig,
}


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read a training config from a ``.json`` or ``.yaml``/``.yml`` file.

    Missing sections and fields keep their defaults.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it cannot be parsed or holds unknown or invalid fields.
        ImportError: for YAML without PyYAML installed.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Training config not found: {p}")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ImportError(
                f"{p}: reading YAML needs PyYAML (pip install pyyaml); or use a JSON config."
            ) from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"{p}: not valid YAML: {e}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: not valid JSON: {e}") from None
    return TrainConfig.from_dict(data, source=str(p))


def _parse_value(text: str) -> Any:
    """JSON when it parses (numbers, true/false/null, lists, dicts), the plain string otherwise."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """A copy of ``config`` with ``section.field=value`` overrides applied (values as JSON).

    ``model.generator.ngf=32`` sets one key of a dict field. Strings need no quotes
    (``run.out=runs/a``); lists do (``data.ihc=["a", "b"]``).

    Raises:
        ValueError: for a malformed override or an unknown section or field.
    """
    data = config.to_dict()
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ValueError(
                f"Override {item!r}: expected section.field=value, e.g. optim.steps=1000."
            )
        section = parts[0]
        if section not in data:
            raise ValueError(
                f"Override {item!r}: unknown section {section!r}; known: {sorted(data)}."
            )
        target = data[section]
        for p in parts[1:-1]:
            if not isinstance(target.get(p), dict):
                if p in target and target[p] is not None:
                    raise ValueError(f"Override {item!r}: {p!r} is not a mapping.")
                target[p] = {}
            target = target[p]
        if len(parts) == 2 and parts[1] not in target:
            raise ValueError(
                f"Override {item!r}: unknown field {parts[1]!r} in [{section}]; known: "
                f"{sorted(target)}."
            )
        target[parts[-1]] = _parse_value(value.strip())
    return TrainConfig.from_dict(data, source="training config with overrides")
