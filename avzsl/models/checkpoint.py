"""Checkpoint bundles: a folder anyone can open, no pickles. The one place a checkpoint is read or written.

    <dir>/model.safetensors   weights of the final (stage-2) model
    <dir>/config.json         CheckpointConfig: everything needed to rebuild and run the model (below)
    <dir>/metrics.json        {"val": {S, U, HM, ZSL}, "test": {...}}; written last: it marks a finished run
    <dir>/atlas.safetensors + atlas.json   embedding atlas for the app's maps (see avzsl/maps/atlas.py)

`load_checkpoint(folder)` gives the model and its `CheckpointConfig`; `read_config(folder)` the config
alone (no weights read), e.g. `read_config("checkpoints/clipclap-ucf").calibration.gamma`. A config is
plain typed data:

    >>> classes = ClassNames(all=("ApplyEyeMakeup", "Archery"), prompt_names=("Apply Eye Makeup", "Archery"),
    ...                      train=("ApplyEyeMakeup",), test_seen=(), test_unseen=("Archery",))
    >>> classes.is_seen("apply eye makeup"), classes.is_seen("archery")   # class or prompt name, any case
    (True, False)

`config.json` holds each value once (schema 2). Schema-1 bundles (avzsl 0.1, where γ and the text parts
were stored twice and the encoders in one of three shapes) are converted when read; see `_from_schema_1`.
Loading rebuilds the model from the recipe and refuses weights that do not fit it, naming the tensor.
Every file is checked before anything is built from it (avzsl/validation.py): the JSON's field types, the
model's size (on the meta device, capped), the weights file's header against the model, finite weights.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from avzsl.data.errors import DataError
from avzsl.data.provenance import Provenance, read_encoder_record
from avzsl.encoders.dims import InputDims, text_parts
from avzsl.encoders.spec import EncoderSpec
from avzsl.io import AvzslError, atomic_save_tensors, atomic_write_json, read_json
from avzsl.validation import (check_config_json, check_finite, check_metrics_json, check_model_size, check_object,
                              check_tensor, safetensors_header)

if TYPE_CHECKING:
    from avzsl.models.registry import Recipe

CHECKPOINT_FORMAT = "avzsl-checkpoint"
CHECKPOINT_SCHEMA_VERSION = 2
WEIGHTS, CONFIG, METRICS = "model.safetensors", "config.json", "metrics.json"


class CheckpointError(AvzslError, ValueError):
    """A checkpoint folder is missing, incomplete, or does not fit the data or encoders in use."""


@dataclass(frozen=True)
class ClassNames:
    """Class names of the data the checkpoint was trained on (global ids = positions in `all`)."""

    all: tuple[str, ...]
    prompt_names: tuple[str, ...]  # the name each class's text was made from (e.g. "Apply Eye Makeup")
    train: tuple[str, ...]  # classes of the final (stage-2) model: "seen" for prediction
    test_seen: tuple[str, ...]
    test_unseen: tuple[str, ...]

    def is_seen(self, label: str) -> bool:
        """A typed label is seen when it names a training class by class name or prompt name, in any case."""
        return label.lower() in self._seen_names

    @functools.cached_property  # computed once per config: every typed label is looked up in it
    def _seen_names(self) -> frozenset[str]:
        train = set(self.train)
        prompts = {p for name, p in zip(self.all, self.prompt_names) if name in train}
        return frozenset(n.lower() for n in train | prompts)


@dataclass(frozen=True)
class Calibration:
    """How the model's distances are turned into a GZSL decision (chosen on validation in stage 1).

    d = (1 − α) d_model + α · blend_scale · d_training-free, then + γ on the seen classes (scoring.py).
    """

    gamma: float  # calibrated stacking: added to the distance of every seen class (reference §7.2)
    alpha: float = 0.0  # open-vocabulary blend weight of the training-free CLIP/CLAP distances; 0 = the model alone
    # puts the training-free distances on the spread of the model's (chosen with α: training/protocol.py, search_blend)
    blend_scale: float = 1.0


@dataclass(frozen=True)
class CheckpointConfig:
    """config.json of a bundle, typed. `to_dict` / `from_dict` are the only code that knows its layout."""

    recipe: Recipe  # model name, architecture config, training schedule
    input_dims: InputDims  # audio, visual and [CLIP | CLAP] text part sizes
    data: Provenance  # where the training data came from: its encoders, prompt set, SYNTHETIC or not, source
    dataset: str
    classes: ClassNames
    calibration: Calibration
    best_epoch: int  # 0-based stage-1 epoch of the best validation HM
    seed: int
    text_alignment: str  # "by-name" or "sorted-keys" (reference §3.4)
    created: str = ""
    versions: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return self.recipe.model

    @property
    def encoders(self) -> EncoderSpec | None:
        """The encoders the features came from; None: unknown (SYNTHETIC data made at some encoders' sizes)."""
        return self.data.encoders

    @property
    def prompt_set(self) -> str | None:
        """The prompt set the class texts were embedded with (None: unknown, e.g. a release)."""
        return self.data.prompt_set

    @property
    def synthetic(self) -> bool:
        """Trained on SYNTHETIC features: rankings mean nothing."""
        return self.data.synthetic

    def feature_encoders(self) -> EncoderSpec:
        """The EncoderSpec (real weights) of the encoders this model's features came from.

        Features with no encoder record (SYNTHETIC data made at an encoder's sizes) are served by the preset
        whose sizes they have, the default preset first.
        """
        from avzsl.encoders.presets import DEFAULT_PRESET, PRESETS

        if self.encoders:
            return dataclasses.replace(self.encoders, random=False, seed=0)
        for name in sorted(PRESETS, key=lambda n: n != DEFAULT_PRESET):
            if preset_dims(PRESETS[name]) == self.input_dims:
                return EncoderSpec(name)
        raise CheckpointError(f"no encoder preset gives features of these sizes ({self.input_dims.describe()})")

    def compatible_with(self, serving: EncoderSpec) -> str | None:
        """Why encoders `serving` cannot feed this model, or None when they can."""
        from avzsl.encoders.spec import serving_problem

        if self.encoders:
            problem = serving_problem(self.encoders, serving)
            if problem:
                return problem
        if preset_dims(serving.spec) != self.input_dims:
            return (f"this checkpoint was trained on features of other encoders ({self.input_dims.describe()}); "
                    f"encoders {serving.describe()} give {preset_dims(serving.spec).describe()}")
        return None

    def to_dict(self) -> dict:
        """Every field as plain JSON data (dataclasses.asdict: tuples are written as lists); the data's
        encoders, prompt set and SYNTHETIC flag at the top level, as schema 2 has always had them."""
        return {"format": CHECKPOINT_FORMAT, "schema_version": CHECKPOINT_SCHEMA_VERSION, **dataclasses.asdict(self),
                "encoders": self.encoders.to_dict() if self.encoders else None, "prompt_set": self.prompt_set,
                "synthetic": self.synthetic, "data": self.data.to_dict()}

    @classmethod
    def from_dict(cls, d: dict, where: str = "config.json") -> CheckpointConfig:
        from avzsl.models.registry import recipe_from_dict

        if not isinstance(d, dict) or d.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{where} is not an avzsl checkpoint config")
        version = d.get("schema_version")
        if version == 1:
            d = _from_schema_1(d)
        elif version != CHECKPOINT_SCHEMA_VERSION:
            raise CheckpointError(f"{where} has checkpoint schema {version}; this avzsl reads 1 and "
                                  f"{CHECKPOINT_SCHEMA_VERSION} (a newer avzsl wrote it?)")
        try:
            # The top-level encoders, prompt set and flag are the config's own; "data" keeps the rest as written.
            data = dataclasses.replace(Provenance.from_dict({**(d.get("data") or {}), "encoders": None}),
                                       encoders=read_encoder_record(d.get("encoders"), d.get("dataset")),
                                       prompt_set=d.get("prompt_set"), synthetic=bool(d["synthetic"]))
            plain = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d}  # dataset, seed, ...
            return cls(**{**plain, "recipe": recipe_from_dict(d["recipe"]), "data": data,
                          "input_dims": InputDims.from_dict(d["input_dims"]),
                          "classes": ClassNames(**{k: tuple(v) for k, v in d["classes"].items()}),
                          "calibration": Calibration(**d["calibration"])})
        except (KeyError, TypeError, ValueError, AttributeError, DataError) as e:
            raise CheckpointError(f"{where} is incomplete or damaged: {type(e).__name__} {e}") from None


def _from_schema_1(d: dict) -> dict:
    """Schema 1 -> 2: γ once (not also at the top level and in metrics), no separate text parts, and the
    encoders as an EncoderSpec dict (schema 1 had a spec dict, {"synthetic": true}, or a description, every
    shape of which read_encoder_record reads). Keys schema 2 does not have ("gamma", "text", ...) are ignored."""
    classes = {k: d["classes"][k] for k in ("all", "train", "test_seen", "test_unseen")}
    return {**d, "prompt_set": (d.get("prompt_templates") or {}).get("name"), "synthetic": bool(d.get("synthetic", False)),
            "classes": {**classes, "prompt_names": d["classes"].get("prompt_names", classes["all"])},
            "calibration": {"gamma": float(d["gamma"])}, "data": d.get("data", {}),
            "text_alignment": (d.get("text") or {}).get("alignment", "by-name")}


def preset_dims(preset) -> InputDims:
    """The InputDims of features made by an encoder preset: CLIP visual, the audio encoder, [CLIP | audio] text."""
    return InputDims(preset.audio.dim, preset.visual.dim, text_parts(preset.visual.dim, preset.audio.dim))


@dataclass
class Checkpoint:
    path: Path
    model: object  # models.base.GZSLModel, in eval mode on its device
    config: CheckpointConfig


METRIC_SETS = ("val", "test", "val_model_only", "test_model_only")  # *_model_only: without the blend


def read_metrics(path: str | Path) -> dict:
    """{"val": {S, U, HM, ZSL}, "test": {...}} of a finished bundle, scored with its calibration; trained
    with the open-vocabulary blend also "val_model_only" / "test_model_only" (α = 0). {} when it has none."""
    file = Path(path) / METRICS
    if not file.is_file():
        return {}
    metrics = check_metrics_json(read_json(file, CheckpointError, "metrics file"), str(file), CheckpointError,
                                 METRIC_SETS)
    return {k: v for k, v in metrics.items() if k in METRIC_SETS}  # schema 1 also repeated γ here


def save_metrics(path: str | Path, metrics: dict) -> None:
    atomic_write_json(Path(path) / METRICS, {k: metrics[k] for k in METRIC_SETS if k in metrics})


def save_checkpoint(path: Path, model, config: CheckpointConfig) -> None:
    """Write model.safetensors and config.json (stamped with the time and library versions)."""
    import numpy as np
    import torch

    import avzsl

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    atomic_save_tensors(path / WEIGHTS, dict(model.state_dict()))
    versions = {"avzsl": avzsl.__version__, "torch": torch.__version__, "numpy": np.__version__,
                "python": platform.python_version()}
    config = dataclasses.replace(config, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), versions=versions)
    atomic_write_json(path / CONFIG, config.to_dict())


def read_config(path: str | Path) -> CheckpointConfig:
    """The config of a complete bundle (weights present), without loading the weights."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder {path} does not exist")
    for name in (CONFIG, WEIGHTS):
        if not (path / name).is_file():
            raise CheckpointError(f"checkpoint {path} is incomplete: {name} is missing")
    raw = check_object(read_json(path / CONFIG, CheckpointError, "checkpoint config"), str(path / CONFIG), CheckpointError)
    if raw.get("format") == CHECKPOINT_FORMAT and raw.get("schema_version") in (1, CHECKPOINT_SCHEMA_VERSION):
        check_config_json(raw, str(path / CONFIG), CheckpointError)  # else from_dict says what it is
    return CheckpointConfig.from_dict(raw, str(path / CONFIG))


def load_checkpoint(path: str | Path, device="cpu", *, config: CheckpointConfig | None = None,
                    header: dict | None = None) -> Checkpoint:
    """The model with its weights. config, header: the folder's config and weights' header (safetensors_header)
    when already read (avzsl/serving/catalog.py)."""
    from safetensors.torch import load_file

    path = Path(path)
    config = config or read_config(path)
    build = functools.partial(config.recipe.build, config.input_dims)
    expected = check_model_size(build, str(path / CONFIG), CheckpointError).state_dict()  # meta tensors: no memory
    check_weights_fit(path, header or safetensors_header(path / WEIGHTS, CheckpointError), expected)
    weights = load_file(str(path / WEIGHTS))
    for name, tensor in weights.items():
        check_finite(tensor, f"tensor {name}", str(path / WEIGHTS), CheckpointError)
    model = build()
    model.load_state_dict(weights)
    model.to(device).eval()
    return Checkpoint(path, model, config)


def check_weights_fit(path: Path, tensors: dict, expected: dict) -> None:
    """The weights file's header (validation.TensorInfo per name) holds exactly the model's tensors."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{path / WEIGHTS} does not fit the model in {path / CONFIG}: {detail}")
    for name, tensor in expected.items():
        dtype = str(tensor.dtype).removeprefix("torch.")
        check_tensor(tensors, name, SAFETENSORS_DTYPES.get(dtype, dtype), tuple(tensor.shape),
                     f"{path / WEIGHTS} does not fit the model in {path / CONFIG}", CheckpointError)


SAFETENSORS_DTYPES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
                      "int32": "I32", "bool": "BOOL", "uint8": "U8"}


def check_data_fits(checkpoint: Checkpoint, dims) -> None:
    """Refuse data whose feature sizes differ from those the checkpoint was trained on."""
    trained = checkpoint.config.input_dims
    if trained != dims:
        raise CheckpointError(f"checkpoint {checkpoint.path} was trained on {trained.describe()}; the data has "
                              f"{dims.describe()}")
