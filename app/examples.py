"""The example clips under examples/: what the gallery offers, and their results kept after the first click."""

from __future__ import annotations

import csv
import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avzsl.media import MediaError, load_media

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


@dataclass
class Example:
    path: str
    labels: str  # suggested labels, comma-separated
    description: str
    has_audio: bool
    kind: str = "video"  # "video", "audio" (a sound file) or "image"
    scenes: int = 1  # how many classes happen one after the other (the CSV's ';'-separated label column)


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
                                   row.get("has_audio", "yes").strip().lower() != "no",
                                   (row.get("kind") or "video").strip(), len(row.get("label", "").split(";"))))
    return out


def example_thumbnails(examples: list[Example]) -> list[tuple[Example, object, str]]:
    """(example, picture, caption) for the gallery: the frame CLIP will see (not the clip's first one), or a
    sound file's waveform."""
    out = []
    for example in examples:
        try:
            frame = sound_picture(example.path) if example.kind == "audio" else load_media(example.path)[0].frame
        except MediaError as e:
            log.warning("example %s left out: %s", example.path, e)
            continue
        path = Path(example.path)
        out.append((example, frame, path.stem if example.kind == "video" else path.name))
    return out


def sound_picture(path: str, size: tuple[int, int] = (320, 180)) -> np.ndarray:
    """A sound file's waveform drawn as a picture, so it can stand in a gallery of frames."""
    from PIL import Image, ImageDraw

    media = load_media(path)
    sound = media[0]
    width, height = size
    canvas = Image.new("RGB", size, "#20324a")
    if sound.audio is not None and len(sound.audio):
        columns = np.array_split(np.abs(sound.audio[: int(sound.audio_seconds * media.sample_rate) or None]), width)
        peaks = np.array([c.max(initial=0.0) for c in columns])
        peaks = peaks / max(peaks.max(), 1e-6)
        draw = ImageDraw.Draw(canvas)
        for x, peak in enumerate(peaks):
            half = peak * (height * 0.4)
            draw.line([(x, height / 2 - half), (x, height / 2 + half)], fill="#7fd1ff")
    return np.asarray(canvas)


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
    def key(video: str, labels: list[str], *settings) -> tuple:
        """settings: model, modality, γ, segments: whatever changes the result."""
        digest = hashlib.sha256(Path(video).read_bytes()).hexdigest()
        return digest, tuple(labels), *settings

    def get(self, key: tuple):
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple, prediction) -> None:
        with self._lock:
            self._items[key] = prediction
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))
