"""Label-embedding cache: an in-memory LRU in front of an optional folder of small safetensors files.

A key covers everything the embedding depends on: the label text, the prompt templates (their content,
not just the set's name) and the encoders' fingerprint (spec + identity of the weight and tokenizer files).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from avzsl.encoders.prompts import PromptSet
from avzsl.io import atomic_save_tensors, cache_dir

logger = logging.getLogger(__name__)

Entry = tuple[np.ndarray, np.ndarray]  # (clip (D_clip,), clap (D_clap,)) float32 unit vectors


def default_label_cache_dir() -> Path:
    return cache_dir() / "labels"


def label_key(label: str, prompts: PromptSet, encoders_fingerprint: str) -> str:
    text = "\x1f".join((encoders_fingerprint, prompts.fingerprint, label))  # unit separator: cannot clash
    return hashlib.sha256(text.encode()).hexdigest()


class LabelCache:
    def __init__(self, capacity: int = 4096, directory: str | os.PathLike | None = None):
        self.capacity = capacity  # labels held in memory; about 4 KB each at 2 x 512 floats
        self.directory = Path(directory) if directory is not None else None
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()  # the app embeds labels from several request threads

    def get(self, key: str) -> Entry | None:
        with self._lock:
            entry = self._memory.get(key)
            if entry is not None:
                self._memory.move_to_end(key)
                return entry
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            tensors = load_file(str(path))
            entry = _frozen(tensors["clip"]), _frozen(tensors["clap"])
        except Exception as e:  # a damaged file is recomputed, not fatal
            logger.warning("ignoring unreadable label cache file %s: %s", path, e)
            return None
        self._remember(key, entry)
        return entry

    def put(self, key: str, clip: np.ndarray, clap: np.ndarray, *, label: str) -> Entry:
        entry = (_frozen(clip), _frozen(clap))
        self._remember(key, entry)
        path = self._path(key)
        if path is not None:
            try:
                atomic_save_tensors(path, {"clip": entry[0], "clap": entry[1]}, metadata={"label": label})
            except OSError as e:  # a read-only or full disk only costs speed
                logger.warning("cannot write label cache file %s: %s", path, e)
        return entry

    def _remember(self, key: str, entry: Entry) -> None:
        with self._lock:
            self._memory[key] = entry
            self._memory.move_to_end(key)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.safetensors"


def _frozen(x: np.ndarray) -> np.ndarray:
    x = np.array(x, dtype=np.float32)  # a private copy
    x.flags.writeable = False  # shared between callers: nobody may edit a cached vector in place
    return x
