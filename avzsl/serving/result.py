"""What a prediction gives back (`Prediction`, per-segment `SegmentRanking`) and its plain-text forms:
the JSON of the CLI and the /classify API, and clock times. The pipeline that makes it is avzsl/serving/service.py.

    >>> clock(65), clock(3725)
    ('1:05', '1:02:05')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from avzsl.models.scoring import LabelScore

if TYPE_CHECKING:  # a type only: these results import without torch (avzsl.encoders imports it)
    from avzsl.encoders.spec import EncoderSpec


def clock(seconds: float) -> str:
    """Seconds as a clock reading: "1:05", or "1:02:05" from an hour on."""
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{s:02d}" if minutes >= 60 else f"{minutes}:{s:02d}"


@dataclass
class SegmentRanking:
    start_s: float
    end_s: float
    ranking: list[LabelScore]

    def to_json(self) -> dict:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "ranking": [s.to_json() for s in self.ranking]}


@dataclass(kw_only=True)
class Prediction:
    """The answer of `PredictionService.classify`, built by keyword; `to_json()` is the /classify API's answer."""

    ranking: list[LabelScore]  # all labels, best first (pooled over segments)
    segments: list[SegmentRanking]  # per segment, in time order
    modalities: dict[str, list[LabelScore]]  # single-modality training-free rankings, as explanations
    timings_ms: dict[str, float]
    kind: str  # "video", "audio" (a sound file) or "image"
    frame: np.ndarray | None  # (H, W, 3) uint8, the frame of the best-fitting segment; None for sound
    audio: np.ndarray | None  # (S,) float32 mono window of that segment at `sample_rate`, or None
    sample_rate: int
    has_audio: bool
    warnings: list[str]
    model: str  # model id
    modality: str
    gamma: float | None
    alpha: float | None  # open-vocabulary blend weight applied (checkpoints only)
    labels: list[str]  # in typed order: the rows of label_text and label_joint
    video_features: dict[str, np.ndarray] = field(default_factory=dict)  # "audio", "visual", "joint" of that segment
    label_joint: np.ndarray | None = None  # (L, D) labels in the checkpoint's joint space
    label_text: np.ndarray | None = None  # (L, D_t) [visual text | audio text] label vectors
    segment_frames: list[np.ndarray | None] = field(default_factory=list)  # per segment, for the timeline
    encoders: EncoderSpec | None = None  # which encoders made the features: the input maps they can be drawn on

    def to_json(self) -> dict:
        return {
            "ranking": [s.to_json() for s in self.ranking],
            "modalities": {m: [s.to_json() for s in scores] for m, scores in self.modalities.items()},
            "segments": [s.to_json() for s in self.segments],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "warnings": list(self.warnings),
            "model": self.model,
            "modality": self.modality,
            "gamma": self.gamma,
            "alpha": self.alpha,
            "kind": self.kind,
            "has_audio": self.has_audio,
            "encoders": self.encoders.describe() if self.encoders else "",
        }
