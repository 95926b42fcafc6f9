"""Media file -> what the encoders need: frames (for CLIP) and audio windows (for CLAP).

One loader, `load_media(path, segments=1)`, for every kind of file: a video, a sound file (audio only,
no frames) or a picture (no audio). It splits the file into `segments` equal parts and gives, for each,
the frame on screen at its centre and the audio window (default 10 s at 48 kHz) centred on it, as one
`MediaSegments`; one segment is the middle frame and the centred window.

Everything is read by seeking, so the cost depends on the keyframe interval and the window length, not on
the file's length: a 3-hour video decodes about as fast as a 10 s one. Decoding uses PyAV (FFmpeg's libraries
in-process); pictures are read with Pillow, which applies a photo's EXIF orientation. `benchmarks/
decode_speed.py` compares PyAV with moviepy and segments with separate decodes.

Audio: the track used is FFmpeg's "best" audio stream (av_find_best_stream): one flagged as the default
wins, and among equals the one with more probed frames, then the higher bit rate, then the first; in MP4,
where the bit rate is measured from the track's size, a silent track (which compresses to almost nothing)
loses to one with sound. It is made mono with the standard ITU-R BS.775 fold-down (FFmpeg's default
matrix: front left/right at 1, centre and surrounds at 1/sqrt(2), LFE dropped, no normalisation) to stereo
and then the mean of left and right, so a sound on L and R comes out at the same level from a 5.1 file as
from a stereo one, and mono and stereo files give what they always did.

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

import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import av
import numpy as np

from avzsl.io import AvzslError

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 48_000  # CLAP (HTSAT) was trained on 48 kHz audio
AUDIO_WINDOW_SECONDS = 10.0  # CLAP's input window: 480,000 samples at 48 kHz

MediaKind = Literal["video", "audio", "image"]

# Audio codecs overlap neighbouring frames (AAC's MDCT), so the first frame decoded after a seek is not
# exact; decode this much before the window and throw it away.
_AUDIO_PREROLL = 0.5  # seconds

_ATTACHED_PIC = av.stream.Disposition.attached_pic

# Openings of container formats FFmpeg reads: a file that starts like one but will not open is damaged
# (typically an MP4 cut short before its index), not "some other kind of file".
_MEDIA_SIGNATURES = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP / M4A
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI / WAV / WebP
    (0, b"OggS"),
    (0, b"FLV"),
    (0, b"fLaC"),
    (0, b"ID3"),  # MP3 with a tag
    (0, b"\x89PNG"),
    (0, b"\xff\xd8\xff"),  # JPEG
)


_TEXT_FORMATS = {"tty"}
_ANY_MEDIA = "a video, sound or picture file"


class MediaError(AvzslError, ValueError):
    """A file that cannot be used. The message names the file and is fit to show a user."""


class MediaNotFoundError(MediaError, FileNotFoundError):
    """No file at the given path."""


class NotAVideoError(MediaError):
    """Not a media file at all, or a media file without a video stream (e.g. a .wav) where a video is needed."""


class CorruptVideoError(MediaError):
    """The container opens but its frames or samples cannot be decoded (truncated or damaged file)."""


class EmptyVideoError(MediaError):
    """A zero-byte file, or a stream without a single frame or sample."""


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

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def audio_end_s(self) -> float | None:
        return None if self.audio_start_s is None else self.audio_start_s + self.audio_seconds


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
        return any(s.has_audio for s in self.segments)

    @property
    def has_frame(self) -> bool:
        return self.segments[0].frame is not None

    @property
    def frames(self) -> np.ndarray | None:
        """(N, H, W, 3) uint8, for encoding in one batch; None for a sound file."""
        if not self.has_frame:
            return None
        return np.stack([s.frame for s in self.segments])

    @property
    def audio(self) -> np.ndarray | None:
        """(N, n) float32, for encoding in one batch; None when the file has no sound."""
        if not self.has_audio:
            return None
        return np.stack([s.audio for s in self.segments])


def load_media(
    path: str | os.PathLike,
    segments: int = 1,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    window_seconds: float = AUDIO_WINDOW_SECONDS,
    keyframes_only: bool = False,
) -> MediaSegments:
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
    count = segments
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"the number of segments must be a whole number of at least 1, not {count!r}")
    kind = _kind(path)
    if kind == "image":
        only = Segment(0, 0.0, 0.0, 0.0, _picture(path), 0.0, None, None, 0.0)
        return MediaSegments(path, "image", 0.0, sample_rate, window_seconds, (only,))
    moments = [(2 * i + 1, 2 * count) for i in range(count)]  # t_i / D as exact fractions
    frames = [(None, None)] * count
    cut: list[tuple[float, float]] = []  # (seconds that play, seconds stated) of each stream cut short
    if kind == "video":
        frames, duration = _frames_at(path, moments, keyframes_only, cut)
    # A second open (about a millisecond) keeps the audio decode independent of where the video one left
    # the demuxer, and lets files whose video cannot seek still give their audio.
    windows, audio_duration = _audio_windows(path, moments, sample_rate, window_seconds, cut)
    if kind == "audio":
        if windows[0][0] is None:
            raise EmptyVideoError(f"{path}: the sound file contains no audio samples")
        duration = audio_duration
    parts = tuple(
        Segment(
            index=i,
            start_s=duration * i / count,
            end_s=duration * (i + 1) / count,
            time_s=duration * (2 * i + 1) / (2 * count),
            frame=frame,
            frame_time=frame_time,
            audio=audio,
            audio_start_s=audio_start,
            audio_seconds=audio_seconds,
        )
        for i, ((frame, frame_time), (audio, audio_start, audio_seconds)) in enumerate(zip(frames, windows))
    )
    notes = ()
    if cut:
        plays, stated = min(p for p, _ in cut), max(s for _, s in cut)
        notes = (f"The file is cut short (a download or upload that stopped early?): it plays for {plays:.1f} s "
                 f"of {stated:.1f} s, and only that part was used.",)
        logger.warning("%s: %s", path, notes[0])
    return MediaSegments(path, kind, duration, sample_rate, window_seconds, parts, notes)


# ---------------------------------------------------------------------------------------------------------
# opening, and telling kinds of file apart


def _open(path: str) -> av.container.InputContainer:
    """Open a file FFmpeg can read as a video, sound or picture."""
    if not os.path.exists(path):
        raise MediaNotFoundError(f"No such media file: {path}")
    if os.path.isdir(path):
        raise NotAVideoError(f"{path} is a directory, not {_ANY_MEDIA}")
    if os.path.getsize(path) == 0:
        raise EmptyVideoError(f"{path} is empty (0 bytes)")
    error = None
    try:
        container = av.open(path, metadata_errors="replace")
        # FFmpeg's "tty" demuxer renders any .txt (or .ans, .nfo) file as a video of its text
        if container.format.name not in _TEXT_FORMATS and (container.streams.video or container.streams.audio):
            return container
        container.close()  # a header cut short can still "open", with no or codec-less streams
    except av.error.FFmpegError as e:
        if isinstance(e, OSError):  # permissions and the like are not about the file's content
            raise
        error = e
    if _looks_like_media(path):
        raise CorruptVideoError(
            f"{path} looks like a media file but cannot be opened ({_size(path)}); it is probably "
            "truncated (an upload or a recording cut short) or damaged"
        ) from error
    raise NotAVideoError(f"{path} is not {_ANY_MEDIA} (its format is not recognised)") from error


def _kind(path: str) -> MediaKind:
    with _open(path) as container:
        # FFmpeg opens a single picture with an image demuxer ("png_pipe", "jpeg_pipe", "image2", ...); a GIF
        # is a video to it, and a picture when it holds one frame
        name = container.format.name
        videos = _video_streams(container)
        if name == "image2" or name.endswith("_pipe") or (name == "gif" and videos and videos[0].frames <= 1):
            return "image"
        return "video" if videos else "audio"


def _video_streams(container: av.container.InputContainer) -> list[av.video.VideoStream]:
    # cover art in audio files is a one-picture "video" stream flagged as an attached picture
    return [s for s in container.streams.video if not s.disposition & _ATTACHED_PIC]


def _picture(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a picture file, turned upright as its EXIF orientation says (phone photos),
    transparency composited onto white (as a viewer shows it); an animated one gives its middle frame."""
    # imported here: only pictures need Pillow
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if getattr(image, "n_frames", 1) > 1:
                image.seek(image.n_frames // 2)
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
                white = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, image)
            return np.ascontiguousarray(np.asarray(image.convert("RGB")))  # (H, W, 3) uint8
    except UnidentifiedImageError:
        pass  # a picture format FFmpeg reads and Pillow does not: decode its frame with FFmpeg below
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's errors for truncated or damaged data
        raise CorruptVideoError(f"{path}: the picture cannot be decoded ({e}); the file is probably "
                                "truncated or damaged") from e
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as e:
        raise CorruptVideoError(f"{path}: the picture cannot be decoded ({e.strerror})") from e
    raise EmptyVideoError(f"{path}: the picture file holds no picture")


def _size(path: str) -> str:
    size = os.path.getsize(path)
    return "1 byte" if size == 1 else f"{size:,} bytes"


def _looks_like_media(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(16)
    # A file may stop inside the signature itself: a browser recording cut off after its first byte (0x1a of
    # WebM's EBML magic) is a truncated video, not "some other kind of file".
    return any(magic.startswith(head[offset : offset + len(magic)]) and len(head) > offset
               for offset, magic in _MEDIA_SIGNATURES)


# ---------------------------------------------------------------------------------------------------------
# video

Moment = tuple[int, int]  # (p, q): the moment p / q of the way through the stream, exact for any length


def _frames_at(
    path: str, moments: Sequence[Moment], keyframes_only: bool = False, cut: list | None = None
) -> tuple[list[tuple[np.ndarray, float]], float]:
    """([(frame (H, W, 3) uint8 RGB, its time in s)] on screen at each moment, video duration in s), from
    one open of the file. `moments` must be in increasing order. keyframes_only: see _FrameCursor. A file
    whose frames stop before its stated duration (cut short) is read over the part that plays, and (seconds
    that play, seconds stated) is added to `cut`."""
    with _open(path) as container:
        streams = _video_streams(container)
        if not streams:
            raise NotAVideoError(f"{path} has no video stream")
        stream = streams[0]
        times = [None] * len(moments)  # frame times, when they cannot come from timestamps
        try:
            duration = _stream_duration(stream)
            trusted = duration is not None
            if duration is None and container.duration is not None:
                # MKV/WebM store only the file's duration, which may belong to a longer audio track
                duration = container.duration / av.time_base
            cursor = _FrameCursor(container, stream, keyframes_only)
            frames = [cursor.at(duration * p / q) if duration else None for p, q in moments]
            if None in frames:
                # No per-stream duration (browser recordings have none at all), or frames that stop before
                # it (a file cut short): find the real end from the packet timestamps, which reads the file
                # but decodes nothing.
                end, count = _scan_packets(path, stream.index)
                if end and (not trusted or end < duration):
                    if trusted and cut is not None:
                        cut.append((end, duration))
                    duration = end
                    cursor = _FrameCursor(container, stream, keyframes_only)
                    frames = [cursor.at(duration * p / q) for p, q in moments]
                elif not trusted and not end and count:  # no timestamps at all (raw .h264): count frames
                    indices = [count * p // q for p, q in moments]
                    frames = _nth_frames(path, stream.index, indices)
                    rate = float(stream.guessed_rate or 25)
                    times, duration = [i / rate for i in indices], count / rate
            for frame, (p, q) in zip(frames, moments):
                if frame is not None:
                    continue
                if _nth_frames(path, stream.index, [0])[0] is None:
                    raise EmptyVideoError(f"{path} contains no video frames")
                where = "the middle of the video" if (p, q) == (1, 2) else f"{duration * p / q:.1f} s"
                raise CorruptVideoError(
                    f"{path}: the video frames stop before {where}; the file is probably truncated or damaged"
                )
            images = [frame.to_ndarray(format="rgb24") for frame in frames]  # (H, W, 3) uint8 each
        except av.error.FFmpegError as e:
            raise CorruptVideoError(f"{path}: the video frames cannot be decoded ({e.strerror})") from e
        times = [
            float((frame.pts - (stream.start_time or 0)) * stream.time_base) if time is None else time
            for frame, time in zip(frames, times)
        ]
    out = []
    for frame, image, time in zip(frames, images, times):
        if frame.rotation:  # phone videos: the display matrix says how far to turn the stored frame, CCW
            image = np.rot90(image, k=round(frame.rotation / 90))
        # odd widths come back as a view into FFmpeg's padded rows; rotation also leaves a strided view
        out.append((np.ascontiguousarray(image), time))
    return out, duration


class _FrameCursor:
    """The frames on screen at increasing times `t`, from one open video stream.

    A far target is reached by seeking to the keyframe at or before it and decoding from there. A near one
    is reached by decoding on from the previous target, when the gap is no longer than what the previous
    target already cost past its keyframe: decoding on can then cost at most that, where a seek could save
    at most as much, so many segments of a short clip (one keyframe in all, x264's 250-frame GOP is 10 s at
    25 fps) decode the clip about once instead of once per segment. The frames are the same either way.

    keyframes_only: return the keyframe at or before `t` instead, decoding one frame per target (FFmpeg's
    skip_frame=NONKEY) rather than up to a whole GOP.
    """

    def __init__(self, container: av.container.InputContainer, stream: av.video.VideoStream,
                 keyframes_only: bool = False):
        self.container, self.stream, self.keyframes_only = container, stream, keyframes_only
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        self.frames = None  # iterator of decoded frames since the last seek; None: seek next time
        self.shown = None  # the frame returned for the previous target
        self.ahead = None  # the first frame after it, already taken out of `frames`
        self.keyframe_pts = None  # of the latest keyframe decoded since the last seek

    def at(self, t: float) -> av.VideoFrame | None:
        """The frame on screen `t` seconds after the stream starts (the last one with time <= t), or None
        when the stream ends before `t`."""
        stream = self.stream
        target = (stream.start_time or 0) + int(t / stream.time_base)  # in stream.time_base units
        shown = self.shown
        near = (self.frames is not None and shown is not None and self.keyframe_pts is not None
                and not self.keyframes_only and shown.pts <= target
                and target - shown.pts <= shown.pts - self.keyframe_pts)
        if near:
            chosen, pending = shown, [self.ahead] if self.ahead is not None else []
        else:
            self.container.seek(target, stream=stream)  # lands on the keyframe at or before `target`
            self.frames, self.keyframe_pts, chosen, pending = _decode_to_the_cut(self.container, stream), None, None, []
        self.shown = self.ahead = None
        for frame in itertools.chain(pending, self.frames):
            if frame.pts is None:
                continue
            if chosen is not None and frame.pts > target:
                self.shown, self.ahead = chosen, frame
                return chosen
            if frame.key_frame:
                self.keyframe_pts = frame.pts
            chosen = frame  # the first frame is kept even when past `target`: seeking can overshoot a little
            if self.keyframes_only:
                self.frames = None  # the next target seeks again
                return chosen
        self.frames = None
        # The stream ended: fine if its last frame is still on screen at `t` (a few-frame video), otherwise
        # the frames stop early.
        frame_seconds = 1 / float(stream.guessed_rate or 10)
        if chosen is not None and (target - chosen.pts) * stream.time_base <= 2 * frame_seconds:
            return chosen
        return None


def _nth_frames(path: str, index: int, wanted: Sequence[int]) -> list[av.VideoFrame | None]:
    """Frames wanted[k] of stream `index` (None past the end), in one pass decoding from the start: for
    streams that can neither be timed nor seek."""
    found = {}
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(container.streams[index])):
            if i in wanted:
                found[i] = frame
            if i >= max(wanted):
                break
    return [found.get(i) for i in wanted]


def _stream_duration(stream: av.stream.Stream) -> float | None:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    return None


def _scan_packets(path: str, index: int) -> tuple[float | None, int]:
    """(seconds from the start to the end of the last packet, or None without timestamps; packet count)
    of stream `index`, by demuxing (not decoding) the whole file."""
    with av.open(path) as container:
        stream = container.streams[index]
        end, count = None, 0
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's final empty flush packet
                continue
            count += 1
            if packet.pts is not None:
                packet_end = packet.pts + (packet.duration or 0)
                end = packet_end if end is None else max(end, packet_end)
        if end is None:
            return None, count
        return float((end - (stream.start_time or 0)) * stream.time_base), count


# ---------------------------------------------------------------------------------------------------------
# audio

AudioWindow = tuple[np.ndarray | None, float | None, float]  # (audio (n,), start in s, seconds of real audio)


def _audio_windows(
    path: str, moments: Sequence[Moment], sample_rate: int, window_seconds: float,
    cut: list | None = None, plays_for: float | None = None,
) -> tuple[list[AudioWindow], float | None]:
    """([(audio (n,) float32 mono, start s, real seconds)] for the window centred on each moment of the
    audio track, track duration in s), from one open of the file; [(None, None, 0.0)] * len(moments) and
    None without an audio track. n = round(window_seconds * sample_rate); the window is shifted to stay
    inside the track and a track shorter than it is zero-padded at the end (see load_media). A track that
    stops before its stated duration (a file cut short) is read again over the part that plays (`plays_for`
    seconds, found from its packets), and (seconds that play, seconds stated) is added to `cut`."""
    n = round(window_seconds * sample_rate)
    if sample_rate < 1 or n < 1:
        raise ValueError(f"the audio window must hold samples: {window_seconds} s at {sample_rate} Hz")
    with _open(path) as container:
        if not container.streams.audio:
            return [(None, None, 0.0)] * len(moments), None
        stream = container.streams.best("audio")  # the default stream; see the module docstring
        stated = _stream_duration(stream) if plays_for is None else plays_for  # exact in MP4, where AAC's
        duration = stated  # padded last frame is not counted
        if duration is None and container.duration is not None:
            duration = container.duration / av.time_base
        windows = []  # (audio (<= n,), first sample's index in the track)
        try:
            if duration is not None and duration > window_seconds:
                # Long track: decode only each window, which starts where the crop below would put it.
                total = round(duration * sample_rate)
                for k, (p, q) in enumerate(moments):
                    first = min(max(total * p // q - n // 2, 0), total - n)  # integer: exact for p/q = 1/2
                    start = first / sample_rate
                    audio = _decode_audio(container, stream, sample_rate, start, start + window_seconds,
                                          rewind=k > 0)
                    if len(audio) < n - sample_rate // 20 and plays_for is None:  # 50 ms short: cut short?
                        end, _ = _scan_packets(path, stream.index)
                        if end and end < duration:
                            if cut is not None:
                                cut.append((end, duration))
                            return _audio_windows(path, moments, sample_rate, window_seconds, plays_for=end)
                    if len(audio) == 0:
                        raise CorruptVideoError(
                            f"{path}: the audio stops before {start:.1f} s of its {duration:.1f} s; "
                            "the file is probably truncated"
                        )
                    windows.append((audio, first))
            else:
                whole = _decode_audio(container, stream, sample_rate, 0.0, stated)  # (L,)
                total = len(whole)  # the header may have understated the duration: trust the samples
                if duration is None:
                    duration = total / sample_rate
                for p, q in moments:
                    first = min(max(total * p // q - n // 2, 0), max(total - n, 0))
                    windows.append((whole[first : first + n], first))
        except av.error.FFmpegError as e:
            raise CorruptVideoError(f"{path}: the audio cannot be decoded ({e.strerror})") from e
    if all(len(audio) == 0 for audio, _ in windows):
        logger.warning("%s: the audio track has no samples; treating the file as silent", path)
        return [(None, None, 0.0)] * len(moments), duration
    out = []
    for audio, first in windows:
        audio = audio[:n]
        real = len(audio)
        out.append((np.pad(audio, (0, n - real)), first / sample_rate, real / sample_rate))  # (n,) float32
    return out, duration


def _decode_to_the_cut(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.frame.Frame]:
    """The stream's frames, as container.decode(stream) gives them, except that an undecodable last packet
    (a file cut off in the middle of it) ends the stream instead of raising; one further on still raises."""
    packets = container.demux(stream)
    for packet in packets:
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            if any(p.size for p in packets):  # there is more: the data is damaged, not cut short
                raise
            return
        yield from frames


def _decode_audio(
    container: av.container.InputContainer,
    stream: av.audio.AudioStream,
    sample_rate: int,
    start: float = 0.0,
    stop: float | None = None,
    rewind: bool = False,
) -> np.ndarray:
    """Mono float32 samples at `sample_rate` covering [start, stop) seconds of the stream (stop=None: to
    the end). Seeks when start > 0 (or always, with `rewind`, for a container read before), so the cost is
    proportional to stop - start, not to the file."""
    # libswresample (via PyAV) converts each decoded frame as it arrives, in C, so only the window is ever
    # held in memory; librosa.resample would need the whole track as floats first and its first call spends
    # ~1.5 s importing. More than two channels are folded down to stereo by swr's default matrix (ITU-R
    # BS.775: L + C/sqrt(2) + Ls/sqrt(2), LFE dropped; with float output swr does not normalise it), and the
    # two channels are averaged below. Mono and stereo are left alone: swr's own mono downmix adds L and R
    # at -3 dB, which is louder than either channel and clips when they agree, and its mono -> stereo
    # upmix would make mono 3 dB quieter.
    layout = "stereo" if stream.codec_context.channels > 2 else None
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
    t0 = stream.start_time or 0  # in stream.time_base units
    if start > _AUDIO_PREROLL or rewind:
        container.seek(t0 + max(0, int((start - _AUDIO_PREROLL) / stream.time_base)), stream=stream)
    chunks = []  # (channels, samples) float32 each
    first_time = None  # seconds from the stream start to the first decoded sample
    decoded = 0  # samples in chunks
    for frame in _decode_to_the_cut(container, stream):
        if first_time is None:
            first_time = float((frame.pts - t0) * stream.time_base) if frame.pts is not None else 0.0
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray())
            decoded += out.samples
        if stop is not None and first_time + decoded / sample_rate >= stop:
            break
    chunks += [f.to_ndarray() for f in resampler.resample(None)]
    if first_time is None:
        return np.zeros(0, np.float32)
    audio = np.concatenate([c.mean(axis=0) for c in chunks]).astype(np.float32)  # (samples,)
    skip = round((start - first_time) * sample_rate)  # < 0 if the track starts late: pad the gap
    audio = audio[skip:] if skip >= 0 else np.concatenate([np.zeros(-skip, np.float32), audio])
    if stop is not None:
        audio = audio[: round((stop - start) * sample_rate)]
    return audio
