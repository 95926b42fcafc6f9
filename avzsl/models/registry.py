"""Model registry: architectures are JSON recipes in `configs/`, one Python file per model class.

A recipe names the model class, its architecture config, the training schedule of the reference, and
per-benchmark overrides. Adding a model = one model file, its config in `architectures.py`, one JSON file and
one line in `MODEL_MODULES`. The registry imports no torch: a model's module is imported when one is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from avzsl.models.architectures import AVCAConfig, ClipClapConfig, CoGeConfig

if TYPE_CHECKING:
    from avzsl.models.base import GZSLModel, InputDims

CONFIG_DIR = Path(__file__).parent / "configs"
# name -> (module under avzsl.models, class name, architecture config)
MODEL_MODULES: dict[str, tuple[str, str, type]] = {
    "clipclap": ("clipclap", "ClipClap", ClipClapConfig),
    "avca": ("avca", "AVCA", AVCAConfig),
    "coge": ("coge", "CoGe", CoGeConfig),
}


def model_class(name: str) -> type[GZSLModel]:
    module, class_name, _ = MODEL_MODULES[name]
    return getattr(importlib.import_module(f"avzsl.models.{module}"), class_name)


def config_class(name: str) -> type:
    return MODEL_MODULES[name][2]


@dataclass(frozen=True)
class TrainingConfig:
    """The optimisation schedule of one stage-1 run (stage 2 trains for best epoch + 1 epochs)."""

    epochs: int = 20  # stage-1 epochs
    lr: float = 7e-5  # Adam learning rate
    weight_decay: float = 1e-5  # Adam weight decay
    batch_size: int = 64  # class-balanced batches, drawn with replacement
    batches_per_epoch: int = 300  # an "epoch" is a fixed number of batches, independent of data size
    gamma_grid: tuple[float, float, int] = (0.0, 5.0, 76)  # calibrated-stacking γ: linspace(start, stop, num)
    blend: bool = False  # also choose an open-vocabulary blend weight α with γ on validation (not in the papers)
    seed: int = 42  # re-applied at the start of each stage
    lr_factor: float = 0.1  # ReduceLROnPlateau on validation HM
    lr_patience: int = 3

    def __post_init__(self):
        object.__setattr__(self, "gamma_grid", tuple(self.gamma_grid))
        if self.epochs < 1 or self.batch_size < 1 or self.batches_per_epoch < 1 or self.lr <= 0:
            raise ValueError(f"invalid training config {self}")


@dataclass(frozen=True)
class Recipe:
    model: str
    config: object  # the model class's Config dataclass
    training: TrainingConfig

    def build(self, dims: InputDims) -> GZSLModel:
        return model_class(self.model)(self.config, dims)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # {"model", "config", "training"}


def list_models() -> list[str]:
    return sorted(MODEL_MODULES)


def get_recipe(name: str, dataset: str | None = None, *, config_overrides: dict | None = None,
               training_overrides: dict | None = None) -> Recipe:
    """The recipe of model `name`, with the benchmark's overrides (if `dataset` is one) and the caller's."""
    if name not in MODEL_MODULES:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text(encoding="utf-8"))
    per_dataset = raw.get("datasets", {}).get(dataset or "", {})
    config = {**raw["config"], **per_dataset.get("config", {}), **(config_overrides or {})}
    training = {**raw["training"], **per_dataset.get("training", {}), **(training_overrides or {})}
    return Recipe(name, config_class(name)(**config), TrainingConfig(**training))


def recipe_from_dict(d: dict) -> Recipe:
    """Rebuild a recipe saved in a checkpoint's config.json."""
    if d["model"] not in MODEL_MODULES:
        raise KeyError(f"checkpoint uses model {d['model']!r}, unknown to this avzsl ({', '.join(list_models())})")
    return Recipe(d["model"], config_class(d["model"])(**d["config"]), TrainingConfig(**d["training"]))


def create_model(name: str, dims: InputDims, dataset: str | None = None, **config_overrides) -> GZSLModel:
    return get_recipe(name, dataset, config_overrides=config_overrides).build(dims)
