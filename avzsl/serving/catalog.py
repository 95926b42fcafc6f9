"""The checkpoints a service offers: found by id, each config, metrics and atlas read once. No encoders here.

    catalog = Catalog("checkpoints")               # every checkpoint folder under checkpoints/
    model_id = catalog.add("elsewhere/my-run")    # or one folder given by path (its id: its name)
    catalog.usable(model_id).config.calibration.gamma   # read once, again only when config.json changes

    >>> Catalog("examples").ids()                  # a folder without checkpoints
    []
    >>> Catalog("examples").usable("clipclap-ucf")
    Traceback (most recent call last):
    avzsl.models.checkpoint.CheckpointError: no checkpoint named 'clipclap-ucf'

An id is a checkpoint folder's name. A folder is offered when it holds `config.json` or `model.safetensors`;
one whose files cannot be used (a config that is not a checkpoint config, metrics that are not a table,
weights that are missing or not safetensors, files that cannot be read, ...) is listed with the reason
(`Entry.problem`), and every attempt to use it raises `CheckpointError` with that reason: one bad folder
never hides the good ones. A folder's files are read once per version (config, metrics and the weights'
header: `Entry`) and again when a file's size or modification time changes, so a long-running app sees
checkpoints trained or replaced since it started.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from avzsl.models.checkpoint import (CONFIG, METRICS, WEIGHTS, Checkpoint, CheckpointConfig, CheckpointError, load_checkpoint,
                                    read_config, read_metrics)
from avzsl.validation import safetensors_header

log = logging.getLogger(__name__)

TRAINING_FREE = "training-free"  # the model id of the training-free mode; checkpoints are named by folder
TRAINING_FREE_NAME = "CLIP+CLAP zero-shot (no training)"


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """Everything the app and the CLI show about a model, built by keyword; all checkpoint facts come from here."""

    id: str  # TRAINING_FREE or the checkpoint's folder name: the value APIs take
    display_name: str
    architecture: str | None = None  # "clipclap", "avca", "coge"; None for the training-free mode or an unreadable folder
    dataset: str | None = None
    synthetic: bool = False
    gamma: float | None = None  # the checkpoint's calibration γ
    alpha: float | None = None  # its open-vocabulary blend weight α (0: the model alone)
    train_classes: tuple[str, ...] = ()
    metrics: dict = field(default_factory=dict)  # {"val": {...}, "test": {...}}
    has_atlas: bool = False
    encoders: str = "unknown"  # which encoders the model's features come from, in words
    problem: str | None = None  # why it cannot be used here; None when it can
    readable: bool = True  # False: the folder's files cannot be used at all (`problem` says why)

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Entry:
    """One checkpoint folder as read now: its config and weights' header, or why it cannot be used."""

    id: str
    path: Path
    signature: tuple  # the version of its files that was read (`_signature`)
    config: CheckpointConfig | None
    metrics: dict
    header: dict | None  # the weights' tensors as their header lists them (validation.safetensors_header)
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
        self._entries: dict[Path, tuple[tuple, Entry]] = {}  # the latest version read of each folder: (signature, entry)
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
        raise CheckpointError(f"no checkpoint named {model_id!r}")  # the id alone: no server path for API clients

    def entry(self, model_id: str) -> Entry:
        """The checkpoint's files as read now (cached until one of them changes)."""
        path = self.path(model_id)
        return self._read_once(self._entries, path, (CONFIG, WEIGHTS, METRICS),
                               lambda signature: _read_entry(model_id, path, signature))

    def usable(self, model_id: str) -> Entry:
        """The checkpoint's entry; CheckpointError with the reason when its files cannot be used."""
        entry = self.entry(model_id)
        if entry.problem:
            raise CheckpointError(f"{model_id}: {entry.problem}")
        return entry

    def load(self, entry: Entry, device) -> Checkpoint:
        """The model of a readable entry with its weights, loaded once per device and version of its files."""
        key = (entry.path, str(device), entry.signature)
        with self._lock:
            if key not in self._models:
                self._models = {k: v for k, v in self._models.items() if k[:2] != key[:2]}  # an older version
                try:
                    self._models[key] = load_checkpoint(entry.path, device, config=entry.config, header=entry.header)
                except CheckpointError:
                    raise
                except Exception as e:  # noqa: BLE001 - weights whose header read but whose data does not
                    raise CheckpointError(f"{entry.id}: {WEIGHTS} cannot be loaded ({type(e).__name__}: {e})") from None
            return self._models[key]

    def atlas(self, model_id: str):
        """The checkpoint's embedding atlas (avzsl/maps/atlas.py), read once per version of its files."""
        from avzsl.maps.atlas import ATLAS_JSON, ATLAS_TENSORS, load_atlas

        path = self.path(model_id)
        return self._read_once(self._atlases, path, (ATLAS_TENSORS, ATLAS_JSON), lambda signature: load_atlas(path))

    def _read_once(self, store: dict, path: Path, names: tuple[str, ...], read):
        """read(signature) of the folder at `path`, again only when the files `names` change (`_signature`)."""
        signature = _signature(path, *names)
        with self._lock:
            if path not in store or store[path][0] != signature:
                store[path] = (signature, read(signature))
            return store[path][1]


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


def _read_entry(model_id: str, path: Path, signature: tuple) -> Entry:
    """Read a folder's config, metrics and weights' header; whatever fails becomes `problem`."""
    file = path / CONFIG  # the file being read, for the message
    try:
        config = read_config(path)
        file = path / METRICS
        metrics = read_metrics(path)  # finite S, U, HM and ZSL per metric set (validation.check_metrics_json)
        file = path / WEIGHTS
        header = safetensors_header(file, CheckpointError)  # only the header: milliseconds for any size
    except CheckpointError as e:
        problem = str(e)
    except Exception as e:  # noqa: BLE001 - any content at all: one bad folder must not hide the others
        problem = f"{file} cannot be read ({type(e).__name__}: {e})"
    else:
        return Entry(model_id, path, signature, config, metrics, header, None)
    log.warning("checkpoint %s cannot be used: %s", model_id, problem)
    return Entry(model_id, path, signature, None, {}, None, problem)
