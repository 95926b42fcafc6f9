"""Checkpoint bundles: a folder anyone can open, no pickles.

    <dir>/model.safetensors   weights of the final (stage-2) model
    <dir>/config.json         recipe, input dimensions, encoders and text of the data, class names,
                              calibration γ, best epoch, seed, metrics, library versions
    <dir>/metrics.json        {"val": {S,U,HM,ZSL}, "test": {S,U,HM,ZSL}, "gamma": γ, "best_epoch": e}
    <dir>/atlas.safetensors + atlas.json   embedding atlas for the app's maps (see atlas.py)

Loading rebuilds the model from the recipe and refuses weights that do not fit it, naming the tensor.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import avzsl
from avzsl.data.store import atomic_write_json
from avzsl.models.base import GZSLModel, InputDims
from avzsl.models.registry import Recipe, recipe_from_dict

CHECKPOINT_FORMAT = "avzsl-checkpoint"
CHECKPOINT_SCHEMA_VERSION = 1
WEIGHTS, CONFIG, METRICS = "model.safetensors", "config.json", "metrics.json"


class CheckpointError(ValueError):
    """A checkpoint folder is missing, incomplete, or does not fit the data or encoders in use."""


@dataclass
class Checkpoint:
    path: Path
    model: GZSLModel  # in eval mode
    recipe: Recipe
    dims: InputDims
    config: dict  # the whole config.json

    @property
    def gamma(self) -> float:
        return float(self.config["gamma"])

    @property
    def train_classes(self) -> list[str]:
        """Names of the classes the final model was trained on: "seen" for prediction."""
        return list(self.config["classes"]["train"])

    @property
    def encoders(self) -> dict:
        return dict(self.config.get("encoders") or {})


def library_versions() -> dict:
    return {"avzsl": avzsl.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def save_checkpoint(path: Path, model: GZSLModel, recipe: Recipe, dims: InputDims, info: dict) -> None:
    """Write weights and config.json; `info` adds data provenance, classes, γ, metrics, ..."""
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".{WEIGHTS}.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(path / WEIGHTS)
    config = {
        "format": CHECKPOINT_FORMAT,
        "schema_version": CHECKPOINT_SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "recipe": recipe.to_dict(),
        "input_dims": dims.to_dict(),
        **info,
        "versions": library_versions(),
    }
    atomic_write_json(path / CONFIG, config)


def read_config(path: Path) -> dict:
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder {path} does not exist")
    for name in (CONFIG, WEIGHTS):
        if not (path / name).is_file():
            raise CheckpointError(f"checkpoint {path} is incomplete: {name} is missing")
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path / CONFIG} is not valid JSON: {e}") from e
    if config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path / CONFIG} is not an avzsl checkpoint config")
    if config.get("schema_version") != CHECKPOINT_SCHEMA_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint schema {config.get('schema_version')}; this avzsl reads {CHECKPOINT_SCHEMA_VERSION}"
        )
    return config


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    path = Path(path)
    config = read_config(path)
    try:
        recipe = recipe_from_dict(config["recipe"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path / CONFIG}: cannot rebuild the model: {e}") from e
    dims = InputDims.from_dict(config["input_dims"])
    model = recipe.build(dims)
    weights = load_file(str(path / WEIGHTS))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                  else f"{wrong[0]} has shape {tuple(weights[wrong[0]].shape)}, the config needs {tuple(expected[wrong[0]].shape)}")
        raise CheckpointError(f"{path / WEIGHTS} does not fit the model in {path / CONFIG}: {detail}")
    model.load_state_dict(weights)
    model.to(device).eval()
    return Checkpoint(path, model, recipe, dims, config)


def check_data_fits(checkpoint: Checkpoint, dims: InputDims) -> None:
    """Refuse data whose feature sizes differ from those the checkpoint was trained on."""
    trained = checkpoint.dims
    if (trained.audio, trained.visual, trained.text_parts) != (dims.audio, dims.visual, dims.text_parts):
        raise CheckpointError(
            f"checkpoint {checkpoint.path} was trained on audio {trained.audio}-d, visual {trained.visual}-d, "
            f"text {list(trained.text_parts)}; the data has audio {dims.audio}-d, visual {dims.visual}-d, "
            f"text {list(dims.text_parts)}"
        )
