"""In-memory audio-visual feature data sets and the two-stage GZSL views of them.

Both readers (the ClipClap release layout and avzsl's own store) produce a `GZSLData`: five sample subsets
(reference §2.4; the release's `stage_2_train` folder is never read, stage 2 re-assembles it) plus a class
split and a class-text table. `GZSLData.stage(1 | 2)` gives the training and evaluation views of §8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avzsl.data.errors import DataError
from avzsl.data.provenance import Provenance
from avzsl.data.splits import SPLIT_LISTS, ClassSplit

# Sample subsets a data set holds, in the order the protocol uses them: one per class list but stage_2_train.
SAMPLE_SUBSETS = tuple(name for name in SPLIT_LISTS if name != "stage_2_train")
TEXT_ALIGNMENTS = ("by-name", "sorted-keys")


@dataclass
class Features:
    """One vector per modality per video."""

    audio: np.ndarray  # (N, D_a) float32
    visual: np.ndarray  # (N, D_v) float32
    labels: np.ndarray  # (N,) int64 global class ids
    video_ids: list[str]

    def __post_init__(self):
        self.audio = np.ascontiguousarray(self.audio, dtype=np.float32)
        self.visual = np.ascontiguousarray(self.visual, dtype=np.float32)  # the release stores float16
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.labels)
        if self.audio.ndim != 2 or self.visual.ndim != 2:
            raise DataError(f"features must be 2-D, got audio {self.audio.shape}, visual {self.visual.shape}")
        if not (len(self.audio) == len(self.visual) == len(self.video_ids) == n):
            raise DataError(
                f"audio ({len(self.audio)}), visual ({len(self.visual)}), labels ({n}) and video ids "
                f"({len(self.video_ids)}) differ in length"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask_or_index) -> Features:
        index = np.flatnonzero(mask_or_index) if np.asarray(mask_or_index).dtype == bool else mask_or_index
        return Features(self.audio[index], self.visual[index], self.labels[index], [self.video_ids[i] for i in index])

    @staticmethod
    def concat(parts: list[Features]) -> Features:
        return Features(
            np.concatenate([p.audio for p in parts]),
            np.concatenate([p.visual for p in parts]),
            np.concatenate([p.labels for p in parts]),
            [v for p in parts for v in p.video_ids],
        )


@dataclass
class ClassText:
    """Text embedding of every class, row i = class i (K_all, D_t)."""

    embeddings: np.ndarray  # (K_all, D_t) float32, concatenation of the parts below
    parts: tuple[tuple[str, int], ...]  # e.g. (("clip", 512), ("clap", 1024)): CLIP part first
    alignment: str = "by-name"  # how rows were matched to classes (reference §3.4)

    def __post_init__(self):
        self.embeddings = np.ascontiguousarray(self.embeddings, dtype=np.float32)
        self.parts = tuple((str(n), int(d)) for n, d in self.parts)
        if sum(d for _, d in self.parts) != self.embeddings.shape[1]:
            raise DataError(f"text parts {self.parts} do not add up to dimension {self.embeddings.shape[1]}")
        if self.alignment not in TEXT_ALIGNMENTS:
            raise DataError(f"text alignment must be one of {TEXT_ALIGNMENTS}, not {self.alignment!r}")

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]


@dataclass
class StageData:
    """What one stage of the protocol trains and evaluates on (reference §8)."""

    stage: int
    train: Features
    eval: Features
    train_classes: np.ndarray  # sorted global ids trained on (cross-entropy / triplet classes)
    seen_classes: np.ndarray  # sorted global ids, "seen" in the evaluation
    unseen_classes: np.ndarray  # sorted global ids, "unseen" in the evaluation

    @property
    def eval_classes(self) -> np.ndarray:
        return np.union1d(self.seen_classes, self.unseen_classes)


@dataclass
class GZSLData:
    """A whole benchmark: sample subsets, class split, class text, and where it came from."""

    split: ClassSplit
    text: ClassText
    subsets: dict[str, Features]
    provenance: Provenance = field(default_factory=lambda: Provenance(None, None, False))

    def __post_init__(self):
        missing = [s for s in SAMPLE_SUBSETS if s not in self.subsets]
        if missing:
            raise DataError(f"data set lacks the subsets {missing}")
        if len(self.text.embeddings) != self.split.num_classes:
            raise DataError(
                f"{len(self.text.embeddings)} class text embeddings for {self.split.num_classes} classes"
            )
        dims = {(f.audio.shape[1], f.visual.shape[1]) for f in self.subsets.values() if len(f)}
        if len(dims) > 1:
            raise DataError(f"subsets disagree on feature dimensions (audio, visual): {sorted(dims)}")

    @property
    def name(self) -> str:
        return self.split.dataset

    @property
    def audio_dim(self) -> int:
        return self.subsets["stage_1_train"].audio.shape[1]

    @property
    def visual_dim(self) -> int:
        return self.subsets["stage_1_train"].visual.shape[1]

    def stage(self, stage: int) -> StageData:
        lists = {name: np.asarray(ids, dtype=np.int64) for name, ids in self.split.lists.items()}
        if stage == 1:
            train = self._gather(["stage_1_train"], lists["stage_1_train"])
            seen, unseen = lists["stage_1_val_seen"], lists["stage_1_val_unseen"]
            evaluation = self._gather(["stage_1_val_seen", "stage_1_val_unseen"], np.union1d(seen, unseen))
            train_classes = lists["stage_1_train"]
        elif stage == 2:
            train_classes = lists["stage_2_train"]
            train = self._gather(["stage_1_train", "stage_1_val_seen", "stage_1_val_unseen"], train_classes)
            seen, unseen = lists["stage_2_test_seen"], lists["stage_2_test_unseen"]
            evaluation = self._gather(["stage_2_test_seen", "stage_2_test_unseen"], np.union1d(seen, unseen))
        else:
            raise ValueError(f"stage must be 1 or 2, not {stage}")
        self._require_samples(train, train_classes, f"stage-{stage} training")
        self._require_samples(evaluation, np.union1d(seen, unseen), f"stage-{stage} evaluation")
        return StageData(stage, train, evaluation, train_classes, seen, unseen)

    def _gather(self, subsets: list[str], classes: np.ndarray) -> Features:
        """Samples of the given subsets whose class is in `classes` (this is what applies the cls filter)."""
        joined = Features.concat([self.subsets[s] for s in subsets])
        return joined.select(np.isin(joined.labels, classes))

    def _require_samples(self, features: Features, classes: np.ndarray, what: str) -> None:
        if len(features) == 0:
            raise DataError(f"the {what} set of {self.name} is empty")
        counts = np.bincount(features.labels, minlength=self.split.num_classes)[classes]
        empty = classes[counts == 0]
        if len(empty):
            names = self.split.names(empty[:10])
            raise DataError(
                f"{len(empty)} class(es) of the {what} set of {self.name} have no videos, e.g. {names}"
            )
