"""The typed configuration of a training run: `TrainConfig`, files, command-line overrides.

A run is described by one `TrainConfig` made of four sections (`DataConfig`,
`ModelConfig`, `OptimConfig`, `RunConfig`, defined in `restainaug.train.sections`). It is
read from a JSON or YAML file (`load_config`), changed with dotted ``section.field=value``
overrides (`apply_overrides`), and saved with the run (``RUN/config.json``) and inside every
checkpoint, so a run can always be continued or reproduced from its folder alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..threads import check_threads

# The sections lived here; still importable from this module.
from .sections import SIZES as SIZES
from .sections import TARGETS
from .sections import DataConfig as DataConfig
from .sections import ModelConfig as ModelConfig
from .sections import OptimConfig as OptimConfig
from .sections import RunConfig as RunConfig

__all__ = ["TrainConfig", "apply_overrides", "load_config", "run_folder"]


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
        try:
            check_threads(r.threads, "run.threads")
        except (TypeError, ValueError):
            raise bad("run.threads", "'auto', an int >= 1 or null", r.threads) from None
        if r.amp not in ("auto", "bf16", "fp16", "none"):
            raise bad("run.amp", "'auto', 'bf16', 'fp16' or 'none'", r.amp)
        markers = ("membrane", "nuclear", "cytoplasmic", "none", "mixed")
        kinds = d.synthetic_marker if isinstance(d.synthetic_marker, list) else [d.synthetic_marker]
        if not kinds or any(k not in markers or (k == "mixed" and len(kinds) > 1) for k in kinds):
            raise bad(
                "data.synthetic_marker", f"one of {markers} or a list of the first four",
                d.synthetic_marker,
            )  # fmt: skip
        if m.kind not in ("cyclegan", "unmix"):
            raise bad("model.kind", "'cyclegan' or 'unmix'", m.kind)
        if o.schedule not in ("linear", "onecycle"):
            raise bad("optim.schedule", "'linear' or 'onecycle'", o.schedule)
        if isinstance(o.gap_weight, bool) or not (
            isinstance(o.gap_weight, (int, float)) and o.gap_weight >= 0
        ):
            raise bad("optim.gap_weight", "a number >= 0", o.gap_weight)
        if not o.lambda_unlabelled >= 0:
            raise bad("optim.lambda_unlabelled", "a number >= 0", o.lambda_unlabelled)
        if m.init is not None and m.kind != "unmix":
            raise bad("model.init", "null unless model.kind is 'unmix'", m.init)
        if m.kind == "unmix" and d.ihc and m.init is None:
            raise ValueError(
                f"{source}: data.ihc with model.kind unmix adapts a model to those tiles: set "
                "model.init (e.g. default), or leave data.ihc empty."
            )
        if d.target not in TARGETS:
            raise bad("data.target", f"one of {TARGETS}", d.target)
        if not isinstance(d.paired_deepliif, list):
            raise bad("data.paired_deepliif", "a list of DeepLIIF PNG files", d.paired_deepliif)
        if not isinstance(d.if_channels, dict) or "nuclear" not in d.if_channels:
            raise bad("data.if_channels", "a mapping with a 'nuclear' entry", d.if_channels)
        if (d.val_ihc is None) != (d.val_if is None):
            raise ValueError(f"{source}: data.val_ihc and data.val_if go together; set both.")

    def check_data(self, source: str = "training config") -> None:
        """Check that the config names training images for both domains (`fit` calls it).

        Raises:
            ValueError: when ``data.ihc`` or ``data.if`` is empty and ``data.synthetic`` is 0
                (``model.kind: unmix``: when it has no paired data).
        """
        d = self.data
        if self.model.kind == "unmix":
            if not (d.paired_deepliif or d.paired_synthetic or (d.ihc and self.model.init)):
                raise ValueError(
                    f"{source}: model.kind unmix needs paired training data: set "
                    "data.paired_deepliif (DeepLIIF PNG files) or data.paired_synthetic "
                    "(number of synthetic fields), or adapt a model to data.ihc tiles "
                    "(model.init)."
                )
            return
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


def run_folder(config: TrainConfig) -> Path:
    """The run folder of ``config`` (``run.out``, with ``~`` expanded)."""
    return Path(config.run.out).expanduser()
