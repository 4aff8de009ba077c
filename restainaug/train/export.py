"""Export a trained run as a model (safetensors + model card) that `load_model` reads."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

from ..models.architectures import build_generator
from ..models.io import ModelCard, save_model
from ..models.learned import GeneratorTranslator
from ..translator import Channel
from .checkpoint import load_checkpoint
from .config import TrainConfig

__all__ = ["export_run"]


def _last_val(run: Path) -> dict[str, float]:
    import csv

    path = run / "val.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    out: dict[str, float] = {}
    for k, v in rows[-1].items():
        try:
            value = float(v)
        except (TypeError, ValueError):
            continue
        if not math.isnan(value):
            out[k] = value
    return out


def export_run(
    run: str | os.PathLike[str],
    name: str,
    out: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    description: str = "",
    licence: str = "unspecified",
    extra: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    version: str = "0.0.0",
) -> Path:
    """Write the generators of a run as ``NAME.safetensors`` + ``NAME.json``.

    The card records the architecture, channels and roles, the training config, the step,
    the last validation metrics (``val.csv``), the date and the restainaug version (for an
    adaptation also the starting model, the tiles and the before/after scores), so the
    model can be loaded with ``RestainTransform(model=path)`` or, from a folder on
    ``RESTAINAUG_MODEL_PATH``, by name.

    Args:
        run: the run folder.
        name: the model name (letters, digits, ``-``, ``_``, ``.``).
        out: destination folder (``NAME.json`` and ``NAME.safetensors`` are written in it);
            ``RUN/export`` by default.
        checkpoint: a checkpoint file to export instead of the run's latest.
        description: one paragraph for the model list and card.
        licence: licence of the weights (mind the licences of the training data).
        extra: more provenance entries (e.g. data sources and their licences).
        metrics: more metrics for the card (e.g. ``{"evaluation": ...}`` from
            `restainaug.evaluation`), besides the last validation row.
        version: the model's version (not the library's).

    Returns:
        The path of the JSON card.

    Raises:
        FileNotFoundError: if the run has no checkpoint.
        ValueError: for a damaged checkpoint or an invalid name.
    """
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name) or name[0] == ".":
        raise ValueError(f"name: expected letters, digits, '-', '_' or '.', got {name!r}.")
    run = Path(run)
    state = load_checkpoint(checkpoint if checkpoint is not None else run)
    config = TrainConfig.from_dict(state["config"], source=f"checkpoint of {run}")
    channels = [Channel(c["name"], c["role"]) for c in state["channels"]]
    adaptation: dict[str, Any] = {}
    if config.model.kind == "unmix":
        translator, cfg_a, cfg_b = _unmix_parts(state, config, channels, name)
        default = f"Unmixing network trained with restainaug ({run.name}), optics back."
        if config.model.init is not None:
            default = (
                f"{config.model.init} adapted without labels to the IHC tiles of "
                f"{', '.join(config.data.ihc)} ({run.name})."
            )
            adaptation["adapted_from"] = config.model.init
            adaptation["adapted_on"] = list(config.data.ihc)
            report = run / "adaptation.json"
            if report.is_file():
                adaptation["adaptation_scores"] = json.loads(report.read_text(encoding="utf-8"))
    else:
        translator, cfg_a, cfg_b = _cyclegan_parts(state, config, channels, name)
        default = f"CycleGAN generators trained with restainaug ({run.name})."
    from .. import __version__

    validation = _last_val(run)
    card = ModelCard(
        name=name,
        channels=list(translator.channels),
        ihc_to_if=cfg_a,
        if_to_ihc=cfg_b,
        version=version,
        description=description or default,
        licence=licence,
        provenance={
            "trained_with": f"restainaug {__version__}",
            "exported": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "run": str(run),
            "step": int(state["step"]),
            "processes": int(state.get("world", 1)),
            "config": state["config"],
            **adaptation,
            **(extra or {}),
        },
        metrics={**({"validation": validation} if validation else {}), **(metrics or {})},
    )
    return save_model(translator, (Path(out) if out is not None else run / "export") / name, card)


def _unmix_parts(
    state: dict[str, Any], config: TrainConfig, channels: list[Channel], name: str
) -> tuple[GeneratorTranslator, dict[str, Any], dict[str, Any]]:
    """The unmixing network and its renderer (``model.kind: unmix``), with their configs."""
    from ..models.stain_renderer import StainRenderer
    from ..models.unmix import UnmixGenerator

    cfg_a = {"type": "unmix", "in_channels": 3, "out_channels": len(channels),
             "net": state["net"], "od_input": config.model.od_input}  # fmt: skip
    cfg_b = {"type": "render", "in_channels": len(channels), "out_channels": 3, **state["render"]}
    net = UnmixGenerator(net=state["net"], od_input=config.model.od_input)
    net.load_state_dict(state["generators"])
    renderer = StainRenderer(**state["render"])
    return GeneratorTranslator(net, renderer, channels, name=name), cfg_a, cfg_b


def _cyclegan_parts(
    state: dict[str, Any], config: TrainConfig, channels: list[Channel], name: str
) -> tuple[GeneratorTranslator, dict[str, Any], dict[str, Any]]:
    """The two generators of a CycleGAN run, with their configs."""
    r = config.model.residual_channels
    channels += [Channel(f"residual{i}" if r > 1 else "residual", "other") for i in range(r)]
    c = len(channels)
    cfg_a = config.model.generator_config(3, c)
    cfg_b = config.model.generator_config(c, 3)
    nets = {}
    for part, cfg in (("ihc_to_if", cfg_a), ("if_to_ihc", cfg_b)):
        net = build_generator(cfg)
        prefix = part + "."
        net.load_state_dict(
            {k[len(prefix) :]: v for k, v in state["generators"].items() if k.startswith(prefix)}
        )
        nets[part] = net
    translator = GeneratorTranslator(nets["ihc_to_if"], nets["if_to_ihc"], channels, name=name)
    return translator, cfg_a, cfg_b
