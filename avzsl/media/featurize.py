"""Media -> embeddings: the one place where decoded files meet the encoders.

Prediction, local extraction and the Ray extraction engine all go through here:

    media = decode("examples/bird.mp4", encoders.preset.audio, segments=1)   # MediaSegments (media.py)
    [embedding] = featurize([media], encoders)            # one CLIP and one CLAP batch for all segments
    embedding.visual.shape, embedding.audio.shape         # (N, D_clip), (N, D_clap) unit rows
    audio, visual, notes = embedding.complete(encoders)   # with stand-ins for a missing sound or picture

A model trained on both modalities needs both inputs. When the sound is missing (a silent video, a picture,
or the user asked for the picture only) the encoders' embedding of silence stands in for it; when the
picture is missing (a sound file, or the user asked for sound only) their embedding of a mid-grey frame
does. `complete` says in `notes` when it replaced something the file had.
"""

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from avzsl.media import MediaSegments, load_media

def decode(path: str | os.PathLike, audio, segments: int = 1) -> MediaSegments:
    """`segments` moments of a file, with audio windows as the encoders take them. audio: the preset's
    audio description (`Encoders.preset.audio`, or `EncoderSpec.spec.audio` where no encoders are loaded,
    as in a decode-only worker): its sample_rate and window_seconds."""
    return load_media(path, segments, sample_rate=audio.sample_rate, window_seconds=audio.window_seconds)


@dataclass
class MediaEmbedding:
    """What the encoders made of a media file: one row per segment."""

    media: MediaSegments  # the decoded frames and audio windows, with their times
    visual: np.ndarray | None  # (N, D_v) unit rows; None for a sound file
    audio: np.ndarray | None  # (N, D_a) unit rows; None without sound
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def has_picture(self) -> bool:
        return self.visual is not None

    def complete(self, encoders, modality: str = "both") -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(audio (N, D_a), visual (N, D_v), notes): both modalities for a model that takes both, with the
        encoders' stand-ins where the file has no sound or picture or `modality` leaves one out; `notes`
        says when something the file had was replaced."""
        notes = []
        n = len(self.media)
        audio = self.audio
        if modality == "visual" or audio is None:
            if audio is not None:
                notes.append("Picture only: the sound was replaced by the encoders' embedding of silence.")
            audio = np.tile(encoders.silence_embedding(), (n, 1))  # (N, D_a)
        visual = self.visual
        if modality == "audio" or visual is None:
            if visual is not None:
                notes.append("Sound only: the picture was replaced by the encoders' embedding of a grey frame.")
            visual = np.tile(encoders.grey_frame_embedding(), (n, 1))  # (N, D_v)
        return audio, visual, notes


def featurize(medias: Sequence[MediaSegments], encoders) -> list[MediaEmbedding]:
    """Embed every segment of every file: all frames in one CLIP batch, all audio windows in one CLAP
    batch (the windows must be at the encoders' sample rate and length: see `decode`). The timings of
    the batch are given to each embedding."""
    frames = [s.frame for m in medias if m.has_frame for s in m]
    windows = [s.audio for m in medias if m.has_audio for s in m]
    timings = {}
    visual = audio = None
    if frames:
        t0 = time.perf_counter()
        visual = encoders.embed_images(frames)  # (sum N, D_v)
        timings["clip_image"] = 1000 * (time.perf_counter() - t0)
    if windows:
        t0 = time.perf_counter()
        audio = encoders.embed_audio(np.stack(windows))  # (sum N, D_a)
        timings["clap_audio"] = 1000 * (time.perf_counter() - t0)
    out, at_frame, at_window = [], 0, 0
    for media in medias:
        n = len(media)
        rows_v = rows_a = None
        if media.has_frame:
            rows_v, at_frame = visual[at_frame : at_frame + n], at_frame + n
        if media.has_audio:
            rows_a, at_window = audio[at_window : at_window + n], at_window + n
        out.append(MediaEmbedding(media, rows_v, rows_a, dict(timings)))
    return out


def embed_file(path: str | os.PathLike, encoders, segments: int = 1) -> MediaEmbedding:
    """Decode `segments` moments of one file and embed them, with the decode time in `timings_ms`."""
    t0 = time.perf_counter()
    media = decode(path, encoders.preset.audio, segments)
    decoded = 1000 * (time.perf_counter() - t0)  # ms
    [embedding] = featurize([media], encoders)
    embedding.timings_ms = {"decode": decoded, **embedding.timings_ms}
    return embedding
