"""Media file -> what the encoders need: frames (for CLIP) and audio windows (for CLAP).

One loader, `load_media(path, segments=1)`, for every kind of file: a video, a sound file (audio only,
no frames) or a picture (no audio). It splits the file into `segments` equal parts and gives, for each,
the frame on screen at its centre and the audio window (default 10 s at 48 kHz) centred on it, as one
`MediaSegments`; one segment is the middle frame and the centred window.

Everything is read by seeking, so the cost depends on the keyframe interval and the window length, not on
the file's length: a 3-hour video decodes about as fast as a 10 s one. Decoding uses PyAV (FFmpeg's libraries
in-process); pictures are read with Pillow, which applies a photo's EXIF orientation. `benchmarks/
decode_speed.py` compares PyAV with moviepy and segments with separate decodes. Memory is bounded whatever
the container declares: one frame and one audio window per moment, at most MAX_AUDIO_SECONDS of audio per
file, pictures and frames up to MAX_PICTURE_PIXELS (`benchmarks/decode_memory.py`).

A file cut short that still plays (a download or upload stopped early, with its index at the front, so a
player shows it up to the cut) is read from the part that plays: its moments are taken over that part, and
`MediaSegments.warnings` says so. Bad inputs raise a `MediaError` subclass whose message names the file and
is fit to show to a user.

    >>> video = load_media("examples/bird.mp4")           # the middle frame, 10 s at 48 kHz
    >>> video.kind, video[0].frame.shape, video[0].audio.shape
    ('video', (240, 320, 3), (480000,))
    >>> load_media("examples/piano.mp3", sample_rate=32_000).kind, load_media("examples/piano.mp3")[0].frame
    ('audio', None)
    >>> [(s.start_s, s.end_s) for s in load_media("examples/scenes.mp4", 2)]
    [(0.0, 24.0), (24.0, 48.0)]
"""

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from avzsl.media.audio import AUDIO_WINDOW_SECONDS, DEFAULT_SAMPLE_RATE, audio_windows
# the errors are re-exported: callers catch them from avzsl.media
from avzsl.media.container import (CorruptVideoError, EmptyVideoError, MediaError, MediaKind, MediaNotFoundError,
                                   NotAVideoError, media_kind)
from avzsl.media.picture import decode_picture
from avzsl.media.video import frames_at

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """One of N equal parts of a file: the moment at its centre, the frame on screen then, and the audio
    window centred on it."""

    index: int  # 0 .. N-1, in time order
    start_s: float  # the part this segment stands for is [start_s, end_s) = [i D / N, (i + 1) D / N)
    end_s: float
    time_s: float  # the moment: (start_s + end_s) / 2
    frame: np.ndarray | None  # (H, W, 3) uint8 RGB on screen at time_s; None for a sound file
    frame_time: float | None  # seconds from the start to `frame` (<= time_s, the frame then on screen)
    audio: np.ndarray | None  # (n,) float32 mono; None when the file has no sound
    audio_start_s: float | None  # seconds from the start of the audio track to audio[0]
    audio_seconds: float  # seconds of real (non-padded) audio in `audio`


@dataclass(frozen=True)
class MediaSegments:
    """What `load_media` gives for any kind of file: its segments, in time order."""

    path: str
    kind: MediaKind  # "video", "audio" (a sound file, or a video file whose only streams are audio), "image"
    duration: float  # seconds: of the video stream for "video" (of the part that plays, if cut short), of the
    #                  audio track for "audio"; 0 for "image"
    sample_rate: int  # of every segment's `audio`
    window_seconds: float
    segments: tuple[Segment, ...]
    warnings: tuple[str, ...] = ()  # what the user should know about how the file was read (a file cut short)

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __getitem__(self, i: int) -> Segment:
        return self.segments[i]

    @property
    def has_audio(self) -> bool:
        return any(s.audio is not None for s in self.segments)

    @property
    def has_frame(self) -> bool:
        return self.segments[0].frame is not None


def load_media(path: str | os.PathLike, segments: int = 1, *, sample_rate: int = DEFAULT_SAMPLE_RATE,
               window_seconds: float = AUDIO_WINDOW_SECONDS, keyframes_only: bool = False) -> MediaSegments:
    """Split a video or sound file of duration D into `segments` equal parts and decode, for part i, the
    frame on screen at its centre t_i = (i + 1/2) D / segments and the audio window centred on t_i (mono,
    `window_seconds` at `sample_rate`). Sound files (MP3, WAV, FLAC, OGG, M4A, ...) give no frames; a video
    whose container holds only audio streams counts as one. A picture (PNG, JPEG, WebP, ...) has no time:
    it gives one segment whatever `segments` is, with start_s = end_s = 0 and no audio. Raises a MediaError
    for anything else.

    Each frame and each window is decoded by seeking (the file is opened once for the frames and once for
    the audio), so 8 segments of a 3-hour video cost about 8 middle-frame decodes, not the whole file; close
    moments decode on instead of seeking again (see _FrameCursor). An exact frame costs decoding from the
    keyframe before it, up to a GOP (x264: 250 frames); keyframes_only=True takes that keyframe itself
    instead (`frame_time` says when it is), one decoded frame per segment, for when speed matters more than
    the exact moment.

    Audio windows: `window_seconds` long, centred on the same fraction (i + 1/2) / segments of the audio
    track (whose length L equals D to within a frame in ordinary files), then shifted as little as needed to
    stay inside the track, so the first and last segments of a short file hear real sound rather than
    padding. A track of L > n samples gives, for one segment, samples [L//2 - n//2, L//2 - n//2 + n); a
    track shorter than the window is taken whole and zero-padded at the end, so all its segments share
    that audio. `audio_start_s` says where each window starts. Windows of neighbouring segments overlap
    when D / segments < window_seconds.
    """
    path = os.fspath(path)
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValueError(f"the number of segments must be a whole number of at least 1, not {segments!r}")
    kind = media_kind(path)
    if kind == "image":
        only = Segment(0, 0.0, 0.0, 0.0, decode_picture(path), 0.0, None, None, 0.0)
        return MediaSegments(path, "image", 0.0, sample_rate, window_seconds, (only,))
    moments = [(2 * i + 1, 2 * segments) for i in range(segments)]  # t_i / D as exact fractions
    frames = [(None, None)] * segments
    cut: list[tuple[float, float]] = []  # (seconds that play, seconds stated) of each stream cut short
    if kind == "video":
        frames, duration = frames_at(path, moments, keyframes_only, cut)
    # A second open (about a millisecond) keeps the audio decode independent of where the video one left
    # the demuxer, and lets files whose video cannot seek still give their audio.
    windows, audio_duration = audio_windows(path, moments, sample_rate, window_seconds, cut)
    if kind == "audio":
        if windows[0][0] is None:
            raise EmptyVideoError(f"{path}: the sound file contains no audio samples")
        duration = audio_duration
    parts = tuple(
        # the part [i D / N, (i + 1) D / N) and its centre
        Segment(i, duration * i / segments, duration * (i + 1) / segments, duration * (2 * i + 1) / (2 * segments),
                frame, frame_time, audio, audio_start, audio_seconds)
        for i, ((frame, frame_time), (audio, audio_start, audio_seconds)) in enumerate(zip(frames, windows))
    )
    notes = ()
    if cut:
        plays, stated = min(p for p, _ in cut), max(s for _, s in cut)
        notes = (f"The file is cut short (a download or upload that stopped early?): it plays for {plays:.1f} s "
                 f"of {stated:.1f} s, and only that part was used.",)
        logger.warning("%s: %s", path, notes[0])
    return MediaSegments(path, kind, duration, sample_rate, window_seconds, parts, notes)
