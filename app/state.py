"""Per-session data, kept in a `gr.State`: what the maps need of the videos classified so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # a type only: the session imports without torch (avzsl.encoders imports it)
    from avzsl.encoders.spec import EncoderSpec

MAX_REMEMBERED = 20  # videos per session drawn on the maps; older ones are forgotten


@dataclass(kw_only=True)
class Classified:
    """A video classified in this session, reduced to what the Explore maps draw."""

    name: str  # file name of the video
    model: str  # id of the model it was classified with
    top: str  # best label
    confidence: float  # its confidence
    features: dict[str, np.ndarray]  # "audio" (D_a,), "visual" (D_v,), "joint" (D,) with a checkpoint
    labels: list[str]  # the parsed labels, in typed order: the rows of the two arrays below
    label_text: np.ndarray | None  # (L, D_t) [visual text | audio text] of the labels
    label_joint: np.ndarray | None  # (L, D) labels in the checkpoint's joint space
    encoders: EncoderSpec | None  # the encoders that made `features` and `label_text`


@dataclass
class Session:
    history: list[Classified] = field(default_factory=list)

    def remember(self, prediction, video_path: str) -> None:
        best = prediction.ranking[0]
        entry = Classified(name=Path(str(video_path)).name, model=prediction.model, top=best.label,
                           confidence=best.confidence, features=dict(prediction.video_features),
                           labels=list(prediction.labels), label_text=prediction.label_text,
                           label_joint=prediction.label_joint, encoders=prediction.encoders)
        self.history = [*self.history, entry][-MAX_REMEMBERED:]
