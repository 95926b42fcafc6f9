"""The embedding atlas a checkpoint ships for the app's maps.

For the test videos (all of them, but at most `per_class` per class, drawn with a fixed seed) it holds the
input audio and visual vectors and the learned joint embeddings, and for every class of the data set the
learned embedding of its text. Files: `atlas.safetensors` with

    audio (M, D_a), visual (M, D_v), joint (M, D), labels (M,) int64 global ids,
    class_joint (K_all, D) learned text embeddings, class_text (K_all, D_t) input text vectors

and `atlas.json` with the video ids, class names, and which classes were seen / unseen in the test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors.numpy import load_file

from avzsl.io import atomic_save_tensors, atomic_write_json

if TYPE_CHECKING:  # types only: the app reads atlases (and serves its page) before torch is imported
    import torch

    from avzsl.data.features import GZSLData
    from avzsl.models.base import GZSLModel

ATLAS_TENSORS, ATLAS_JSON = "atlas.safetensors", "atlas.json"
TENSORS = ("audio", "visual", "joint", "labels", "class_joint", "class_text")  # the Atlas fields in ATLAS_TENSORS
LISTS = ("video_ids", "class_names", "seen_classes", "unseen_classes")  # those in ATLAS_JSON
DEFAULT_PER_CLASS = 100


@dataclass
class Atlas:
    audio: np.ndarray  # (M, D_a)
    visual: np.ndarray  # (M, D_v)
    joint: np.ndarray  # (M, D)
    labels: np.ndarray  # (M,)
    class_joint: np.ndarray  # (K_all, D)
    class_text: np.ndarray  # (K_all, D_t)
    video_ids: list[str]
    class_names: list[str]
    seen_classes: list[int]
    unseen_classes: list[int]


def build_atlas(model: GZSLModel, data: GZSLData, device: torch.device, *, per_class: int = DEFAULT_PER_CLASS,
                seed: int = 0) -> Atlas:
    import torch

    test = data.stage(2)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(test.eval.labels):
        rows = np.flatnonzero(test.eval.labels == c)
        keep.append(np.sort(rng.choice(rows, size=min(per_class, len(rows)), replace=False)))
    sample = test.eval.select(np.concatenate(keep))
    model.eval()
    with torch.inference_mode():
        joint = model.embed_samples(torch.from_numpy(sample.audio).to(device), torch.from_numpy(sample.visual).to(device))
        class_joint = model.embed_text(torch.from_numpy(data.text.embeddings).to(device))
    return Atlas(sample.audio, sample.visual, joint.cpu().numpy(), sample.labels, class_joint.cpu().numpy(),
                 data.text.embeddings, sample.video_ids, list(data.split.class_names),
                 test.seen_classes.tolist(), test.unseen_classes.tolist())


def save_atlas(path: Path, atlas: Atlas) -> None:
    atomic_save_tensors(path / ATLAS_TENSORS, {name: getattr(atlas, name) for name in TENSORS})
    atomic_write_json(path / ATLAS_JSON, {name: getattr(atlas, name) for name in LISTS})


def load_atlas(path: Path) -> Atlas:
    path = Path(path)
    if not (path / ATLAS_TENSORS).is_file() or not (path / ATLAS_JSON).is_file():
        raise FileNotFoundError(f"checkpoint {path} has no embedding atlas ({ATLAS_TENSORS} + {ATLAS_JSON})")
    tensors = load_file(str(path / ATLAS_TENSORS))
    lists = json.loads((path / ATLAS_JSON).read_text(encoding="utf-8"))
    return Atlas(**{name: tensors[name] for name in TENSORS}, **{name: lists[name] for name in LISTS})
