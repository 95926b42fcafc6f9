"""The checkpoints a service offers: found by id, each config, metrics and atlas read once. No encoders here.

    catalog = Catalog("checkpoints")               # every checkpoint folder under checkpoints/
    model_id = catalog.add("elsewhere/my-run")    # or one folder given by path (its id: its name)
    catalog.config(model_id).calibration.gamma    # read once, again only when config.json changes

    >>> Catalog("examples").ids()                  # a folder without checkpoints
    []
    >>> Catalog("examples").config("clipclap-ucf")
    Traceback (most recent call last):
    avzsl.models.checkpoint.CheckpointError: no checkpoint named 'clipclap-ucf' in examples

An id is a checkpoint folder's name. A folder is offered when it holds `config.json` or `model.safetensors`;
one whose files cannot be used (a config that is not a checkpoint config, metrics that are not a table,
weights that are missing or not safetensors, files that cannot be read, ...) is listed with the reason
(`Entry.problem`), and every attempt to use it raises `CheckpointError` with that reason: one bad folder
never hides the good ones. Reads are cached per file and redone when the file's size or modification time
changes, so a long-running app sees checkpoints trained or replaced since it started.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from avzsl.models.checkpoint import (CONFIG, METRICS, WEIGHTS, Checkpoint, CheckpointConfig, CheckpointError, load_checkpoint,
                              read_config, read_metrics)
from avzsl.validation import safetensors_header

log = logging.getLogger(__name__)

TRAINING_FREE = "training-free"  # the model id of the training-free mode; checkpoints are named by folder
TRAINING_FREE_NAME = "CLIP+CLAP zero-shot (no training)"


@dataclass(frozen=True)
class ModelInfo:
    """Everything the app and the CLI show about a model; all checkpoint facts come from here."""

    id: str  # TRAINING_FREE or the checkpoint's folder name: the value APIs take
    display_name: str
    architecture: str | None  # "clipclap", "avca", "coge"; None for the training-free mode or an unreadable folder
    dataset: str | None
    synthetic: bool
    gamma: float | None  # the checkpoint's calibration γ
    alpha: float | None  # its open-vocabulary blend weight α (0: the model alone)
    train_classes: tuple[str, ...]
    metrics: dict  # {"val": {...}, "test": {...}}
    has_atlas: bool
    encoders: str  # which encoders the model's features come from, in words
    problem: str | None  # why it cannot be used here; None when it can
    readable: bool = True  # False: the folder's files cannot be used at all (`problem` says why)

    @property
    def usable(self) -> bool:
        return self.problem is None

    @classmethod
    def unreadable(cls, model_id: str, problem: str) -> ModelInfo:
        return cls(model_id, model_id, None, None, False, None, None, (), {}, False, "unknown", problem, readable=False)


@dataclass(frozen=True)
class Entry:
    """One checkpoint folder as read now: its config, or why it cannot be used."""

    id: str
    path: Path
    config: CheckpointConfig | None
    metrics: dict
    problem: str | None  # None: the files are readable (the encoders in use are judged by the service)

    @property
    def has_atlas(self) -> bool:
        from avzsl.maps.atlas import ATLAS_JSON, ATLAS_TENSORS

        return (self.path / ATLAS_TENSORS).is_file() and (self.path / ATLAS_JSON).is_file()


class Catalog:
    """Checkpoint folders under `folder` (None: none) plus folders added by path; thread-safe."""

    def __init__(self, folder: str | Path | None = "checkpoints"):
        self.folder = None if folder is None else Path(folder)
        self._added: dict[str, Path] = {}
        self._entries: dict[Path, tuple[tuple, Entry]] = {}  # path -> (files' signature, entry)
        self._atlases: dict[Path, tuple[tuple, object]] = {}
        self._models: dict[tuple, Checkpoint] = {}
        self._lock = threading.Lock()

    def add(self, path: str | Path) -> str:
        """Offer the checkpoint folder at `path` (e.g. `predict --checkpoint PATH`); returns its id."""
        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(f"checkpoint folder {path} does not exist")
        model_id = path.resolve().name
        with self._lock:
            self._added[model_id] = path
        return model_id

    def ids(self) -> list[str]:
        """Ids of every checkpoint folder offered, sorted: added ones and those under the folder."""
        found = dict(self._added)
        if self.folder is not None and self.folder.is_dir():
            try:
                folders = list(self.folder.iterdir())
            except OSError as e:
                log.warning("cannot list the checkpoint folder %s: %s", self.folder, e)
                folders = []
            for path in folders:
                if path.name not in found and _looks_like_checkpoint(path):
                    found[path.name] = path
        return sorted(found)

    def path(self, model_id: str) -> Path:
        if model_id in self._added:
            return self._added[model_id]
        if self.folder is not None and model_id not in ("", ".", "..") and "/" not in model_id and os.sep not in model_id:
            path = self.folder / model_id
            if _looks_like_checkpoint(path):
                return path
        where = self.folder if self.folder is not None else "the checkpoints given"
        raise CheckpointError(f"no checkpoint named {model_id!r} in {where}")

    def entry(self, model_id: str) -> Entry:
        """The checkpoint's files as read now (cached until one of them changes)."""
        path = self.path(model_id)
        signature = _signature(path, CONFIG, WEIGHTS, METRICS)
        with self._lock:
            cached = self._entries.get(path)
            if cached is None or cached[0] != signature:
                cached = (signature, _read_entry(model_id, path))
                self._entries[path] = cached
        return cached[1]

    def entries(self) -> list[Entry]:
        return [self.entry(model_id) for model_id in self.ids()]

    def config(self, model_id: str) -> CheckpointConfig:
        """The checkpoint's config; CheckpointError with the reason when its files cannot be used."""
        entry = self.entry(model_id)
        if entry.problem:
            raise CheckpointError(f"{model_id}: {entry.problem}")
        return entry.config

    def metrics(self, model_id: str) -> dict:
        return self.entry(model_id).metrics

    def load(self, model_id: str, device) -> Checkpoint:
        """The model with its weights, loaded once per device (and again when its files change)."""
        config = self.config(model_id)
        path = self.path(model_id)
        key = (path, str(device), _signature(path, CONFIG, WEIGHTS))
        with self._lock:
            if key not in self._models:
                self._models = {k: v for k, v in self._models.items() if k[:2] != key[:2]}  # an older version
                try:
                    self._models[key] = load_checkpoint(path, device, config=config)
                except CheckpointError:
                    raise
                except Exception as e:  # noqa: BLE001 - weights whose header read but whose data does not
                    raise CheckpointError(f"{model_id}: {path / WEIGHTS} cannot be loaded ({type(e).__name__}: {e})") from None
            return self._models[key]

    def atlas(self, model_id: str):
        """The checkpoint's embedding atlas (avzsl/maps/atlas.py), read once per version of its files."""
        from avzsl.maps.atlas import ATLAS_JSON, ATLAS_TENSORS, load_atlas

        path = self.path(model_id)
        signature = _signature(path, ATLAS_TENSORS, ATLAS_JSON)
        with self._lock:
            cached = self._atlases.get(path)
            if cached is None or cached[0] != signature:
                cached = (signature, load_atlas(path))
                self._atlases[path] = cached
        return cached[1]


def _looks_like_checkpoint(path: Path) -> bool:
    """A folder holding a config or weights: a checkpoint, whole or broken (a run still training has neither)."""
    try:
        return path.is_dir() and ((path / CONFIG).exists() or (path / WEIGHTS).exists())
    except OSError:
        return False


def _signature(folder: Path, *names: str) -> tuple:
    """What identifies this version of the files: size and modification time of each (None: absent)."""
    out = []
    for name in names:
        try:
            st = (folder / name).stat()
            out.append((st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


def _read_entry(model_id: str, path: Path) -> Entry:
    """Read a folder's config and metrics and check its weights' header; whatever fails becomes `problem`."""
    file = path / CONFIG  # the file being read, for the message
    try:
        config = read_config(path)
        file = path / METRICS
        metrics = read_metrics(path)
        _check_metrics(file, metrics)
        file = path / WEIGHTS
        safetensors_header(file, CheckpointError)  # the header alone: milliseconds for any size
    except CheckpointError as e:
        problem = str(e)
    except Exception as e:  # noqa: BLE001 - any content at all: one bad folder must not hide the others
        problem = f"{file} cannot be read ({type(e).__name__}: {e})"
    else:
        return Entry(model_id, path, config, metrics, None)
    log.warning("checkpoint %s cannot be used: %s", model_id, problem)
    return Entry(model_id, path, None, {}, problem)


def _check_metrics(file: Path, metrics: dict) -> None:
    """Metrics are shown as numbers: {"val": {"S": 1.0, ...}, ...}; anything else is a damaged file."""
    for name, scores in metrics.items():
        if not isinstance(scores, dict) or not all(isinstance(v, (int, float)) for v in scores.values()):
            raise CheckpointError(f"{file}: {name!r} must map score names to numbers, not {str(scores)[:40]}")

