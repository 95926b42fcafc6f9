"""Per-session data, kept in a `gr.State`: the last prediction and what the maps need of earlier ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAX_REMEMBERED = 20  # videos per session drawn on the maps; older ones are forgotten


@dataclass
class Classified:
    """A video classified in this session, reduced to what the Explore maps draw."""

    name: str  # file name of the video
    model: str  # model it was classified with
    top: str  # best label
    confidence: float  # its confidence
    features: dict[str, np.ndarray]  # "audio" (D_a,), "visual" (D_v,), "joint" (D,) with a checkpoint
    labels: list[str]  # the parsed labels, in typed order: the rows of the two arrays below
    label_text: np.ndarray | None  # (L, D_t) [CLIP | CLAP] text of the labels
    label_joint: np.ndarray | None  # (L, D) labels in the checkpoint's joint space


@dataclass
class Session:
    last: object | None = None  # the last avzsl.zeroshot.Prediction, until the result panel has shown it
    last_name: str = ""
    history: list[Classified] = field(default_factory=list)
    error: str = ""  # message of the last failed request, shown in the result panel

    def remember(self, prediction, video_path: str, labels: list[str]) -> None:
        """labels: parse_labels() of what was typed, i.e. the order of prediction.label_text's rows."""
        name = Path(str(video_path)).name
        best = prediction.ranking[0]
        entry = Classified(name, prediction.model, best.label, best.confidence, dict(prediction.video_features),
                           list(labels), prediction.label_text, prediction.label_joint)
        self.last, self.last_name = prediction, name
        self.history = [*self.history, entry][-MAX_REMEMBERED:]
