"""Per-session data, kept in a `gr.State`: what the maps need of the videos classified so far."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from avzsl.serving.result import Prediction

MAX_REMEMBERED = 20  # videos per session drawn on the maps; older ones are forgotten


@dataclass
class Classified:
    """A video classified in this session, reduced to what the Explore maps draw."""

    name: str  # file name of the video
    prediction: Prediction  # without its pictures and sound: the maps draw the vectors only


@dataclass
class Session:
    history: list[Classified] = field(default_factory=list)

    def remember(self, prediction: Prediction, video_path: str) -> None:
        kept = replace(prediction, frame=None, audio=None, segment_frames=[])
        self.history = [*self.history, Classified(Path(str(video_path)).name, kept)][-MAX_REMEMBERED:]
