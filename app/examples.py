"""The example clips under examples/: what the gallery offers, and their results kept after the first click."""

from __future__ import annotations

import csv
import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from avzsl.media import MediaError, load_middle_frame

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


@dataclass
class Example:
    path: str
    labels: str  # suggested labels, comma-separated
    description: str
    has_audio: bool


def read_examples(folder: Path = EXAMPLES_DIR) -> list[Example]:
    """The clips listed in examples/examples.csv that exist (its ';'-separated label lists become commas)."""
    index = folder / "examples.csv"
    if not index.is_file():
        return []
    out = []
    with open(index, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            path = folder / row["file"]
            if path.is_file():
                labels = ", ".join(x.strip() for x in row.get("suggested_labels", "").split(";") if x.strip())
                out.append(Example(str(path), labels or row.get("label", ""), row.get("description", ""),
                                   row.get("has_audio", "yes").strip().lower() != "no"))
    return out


def example_thumbnails(examples: list[Example]) -> list[tuple[Example, object, str]]:
    """(example, middle frame, caption) for the gallery: the frame CLIP will see, not the clip's first one."""
    out = []
    for example in examples:
        try:
            frame, _ = load_middle_frame(example.path)
        except MediaError as e:
            log.warning("example %s left out: %s", example.path, e)
            continue
        out.append((example, frame, Path(example.path).stem))
    return out


class ExampleCache:
    """Predictions of example clicks, computed on the first click ("lazily") and kept for the process.

    Keyed by the file's content, the labels and the model settings, so a changed model or label list is a
    new entry. In memory only: the encoders are fixed for the life of the process.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self._items: dict[tuple, object] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(video: str, labels: list[str], model: str, modality: str, gamma: float | None) -> tuple:
        digest = hashlib.sha256(Path(video).read_bytes()).hexdigest()
        return digest, tuple(labels), model, modality, gamma

    def get(self, key: tuple):
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple, prediction) -> None:
        with self._lock:
            self._items[key] = prediction
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))
