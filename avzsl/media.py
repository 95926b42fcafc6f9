"""Video file -> what the encoders need: the middle frame (for CLIP) and a centred audio window (for CLAP).

Both are read by seeking, so the cost depends on the keyframe interval and the window length, not on the
video's length: a 20-minute video decodes about as fast as a 10 s one. Decoding uses PyAV (FFmpeg's
libraries in-process); `benchmarks/decode_speed.py` compares it with moviepy, which spawns an ffmpeg
process per read.

Bad inputs raise a `MediaError` subclass whose message names the file and is fit to show to a user.
"""

import errno
import logging
import os
from dataclasses import dataclass

import av
import numpy as np

from avzsl.io import AvzslError

logger = logging.getLogger(__name__)

TARGET_SAMPLE_RATE = 48_000  # CLAP (HTSAT) was trained on 48 kHz audio
CLIP_SECONDS = 10.0  # CLAP's input window: 480,000 samples at 48 kHz

# Audio codecs overlap neighbouring frames (AAC's MDCT), so the first frame decoded after a seek is not
# exact; decode this much before the window and throw it away.
_AUDIO_PREROLL = 0.5  # seconds

_ATTACHED_PIC = av.stream.Disposition.attached_pic

# Openings of container formats FFmpeg reads: a file that starts like one but will not open is damaged
# (typically an MP4 cut short before its index), not "some other kind of file".
_MEDIA_SIGNATURES = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI / WAV
    (0, b"OggS"),
    (0, b"FLV"),
)


class MediaError(AvzslError, ValueError):
    """A file that cannot be used as a video. The message names the file and is fit to show a user."""


class MediaNotFoundError(MediaError, FileNotFoundError):
    """No file at the given path."""


class NotAVideoError(MediaError):
    """Not a media file at all, or a media file without a video stream (e.g. a .wav)."""


class CorruptVideoError(MediaError):
    """The container opens but its frames or samples cannot be decoded (truncated or damaged file)."""


class EmptyVideoError(MediaError):
    """A zero-byte file, or a video stream without a single frame."""


@dataclass(frozen=True)
class DecodedVideo:
    path: str
    frame: np.ndarray  # (H, W, 3) uint8 RGB, the frame on screen at duration / 2
    frame_time: float  # seconds from the start of the video to `frame`
    audio: np.ndarray | None  # (480000,) float32 mono 48 kHz; None when the file has no audio track
    duration: float  # seconds, of the video stream (best estimate)
    audio_seconds: float  # seconds of real (non-padded) audio in `audio`; 0 when there is none

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


def load_video(path: str | os.PathLike) -> DecodedVideo:
    """Decode the middle frame and the centred 10 s, 48 kHz mono audio window of a video file."""
    path = os.fspath(path)
    frame, frame_time, duration = _middle_frame(path)
    # A second open (about a millisecond) keeps the audio decode independent of where the video one left
    # the demuxer, and lets files whose video cannot seek still give their audio.
    audio, audio_seconds = load_audio_window(path)
    return DecodedVideo(path, frame, frame_time, audio, duration, audio_seconds)


def load_middle_frame(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """(frame (H, W, 3) uint8 RGB, its time in seconds): the frame on screen at duration / 2."""
    frame, frame_time, _ = _middle_frame(os.fspath(path))
    return frame, frame_time


def load_audio_window(
    path: str | os.PathLike, sample_rate: int = TARGET_SAMPLE_RATE, seconds: float = CLIP_SECONDS
) -> tuple[np.ndarray | None, float]:
    """(audio (n,) float32 mono, seconds of real audio in it) for the centred window of the first audio track.

    n = seconds * sample_rate. A track of L > n samples gives samples [L//2 - n//2, L//2 - n//2 + n); a
    shorter one is zero-padded at the end. (None, 0.0) when the file has no audio track. Works on
    audio-only files too.
    """
    path = os.fspath(path)
    n = round(seconds * sample_rate)
    with _open(path) as container:
        if not container.streams.audio:
            return None, 0.0
        stream = container.streams.audio[0]
        stated = _stream_duration(stream)  # exact in MP4, where AAC's padded last frame is not counted
        duration = stated
        if duration is None and container.duration is not None:
            duration = container.duration / av.time_base
        try:
            if duration is not None and duration > seconds:
                # Long track: decode only the window, which starts where the crop below would put it.
                start = (round(duration * sample_rate) // 2 - n // 2) / sample_rate
                audio = _decode_audio(container, stream, sample_rate, start, start + seconds)
                if len(audio) == 0:
                    raise CorruptVideoError(
                        f"{path}: the audio stops before its middle ({duration / 2:.1f} s); "
                        "the file is probably truncated"
                    )
            else:
                audio = _decode_audio(container, stream, sample_rate, 0.0, stated)
                if len(audio) > n:  # the header understated the duration
                    audio = audio[len(audio) // 2 - n // 2 :]
        except av.error.FFmpegError as e:
            raise CorruptVideoError(f"{path}: the audio cannot be decoded ({e.strerror})") from e
    if len(audio) == 0:
        logger.warning("%s: the audio track has no samples; treating the file as silent video", path)
        return None, 0.0
    audio = audio[:n]
    real = len(audio)
    return np.pad(audio, (0, n - real)), real / sample_rate  # (n,) float32


# ---------------------------------------------------------------------------------------------------------
# opening


def _open(path: str) -> av.container.InputContainer:
    if not os.path.exists(path):
        raise MediaNotFoundError(f"No such video file: {path}")
    if os.path.isdir(path):
        raise NotAVideoError(f"{path} is a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise EmptyVideoError(f"{path} is empty (0 bytes)")
    error = None
    try:
        container = av.open(path, metadata_errors="replace")
        if container.streams.video or container.streams.audio:
            return container
        container.close()  # a header cut short can still "open", with no or codec-less streams
    except av.error.FFmpegError as e:
        if isinstance(e, OSError):  # permissions and the like are not about the file's content
            raise
        error = e
    if _looks_like_media(path):
        raise CorruptVideoError(
            f"{path} looks like a video but cannot be opened ({_size(path)}); it is probably "
            "truncated (an upload or a recording cut short) or damaged"
        ) from error
    raise NotAVideoError(f"{path} is not a video file (its format is not recognised)") from error


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


def _middle_frame(path: str) -> tuple[np.ndarray, float, float]:
    """(frame (H, W, 3) uint8 RGB, frame time in s, video duration in s)."""
    with _open(path) as container:
        # cover art in audio files is a one-picture "video" stream flagged as an attached picture
        streams = [s for s in container.streams.video if not s.disposition & _ATTACHED_PIC]
        if not streams:
            raise NotAVideoError(f"{path} has no video stream")
        stream = streams[0]
        try:
            duration = _stream_duration(stream)
            trusted = duration is not None
            if duration is None and container.duration is not None:
                # MKV/WebM store only the file's duration, which may belong to a longer audio track
                duration = container.duration / av.time_base
            frame = _frame_at(container, stream, duration / 2) if duration else None
            frame_time = None
            if frame is None and not trusted:
                # No per-stream duration (browser recordings have none at all): find the real end from the
                # packet timestamps, which reads the file but decodes nothing.
                duration, count = _scan_packets(path, stream.index)
                if duration:
                    frame = _frame_at(container, stream, duration / 2)
                elif count:  # no timestamps at all (raw .h264 and the like): count frames instead
                    frame = _nth_frame(path, stream.index, count // 2)
                    rate = float(stream.guessed_rate or 25)
                    frame_time, duration = count // 2 / rate, count / rate
            if frame is None:
                if _nth_frame(path, stream.index, 0) is None:
                    raise EmptyVideoError(f"{path} contains no video frames")
                raise CorruptVideoError(
                    f"{path}: the video frames stop before the middle of the video; the file is probably "
                    "truncated or damaged"
                )
            image = frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8
        except av.error.FFmpegError as e:
            raise CorruptVideoError(f"{path}: the video frames cannot be decoded ({e.strerror})") from e
        if frame_time is None:
            frame_time = float((frame.pts - (stream.start_time or 0)) * stream.time_base)
    if frame.rotation:  # phone videos: the display matrix says how far to turn the stored frame, CCW
        image = np.rot90(image, k=round(frame.rotation / 90))
    # odd widths come back as a view into FFmpeg's padded rows; rotation also leaves a strided view
    return np.ascontiguousarray(image), frame_time, duration


def _frame_at(container: av.container.InputContainer, stream: av.video.VideoStream, t: float):
    """The frame on screen `t` seconds after the stream starts (the last one with time <= t), or None
    when the stream ends before `t`."""
    target = (stream.start_time or 0) + int(t / stream.time_base)  # in stream.time_base units
    container.seek(target, stream=stream)  # lands on the keyframe at or before `target`
    chosen = None
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        if chosen is not None and frame.pts > target:
            return chosen
        chosen = frame  # the first frame is kept even when past `target`: seeking can overshoot a little
    # The stream ended: fine if its last frame is still on screen at `t` (a few-frame video), otherwise
    # the frames stop early.
    frame_seconds = 1 / float(stream.guessed_rate or 10)
    if chosen is not None and (target - chosen.pts) * stream.time_base <= 2 * frame_seconds:
        return chosen
    return None


def _nth_frame(path: str, index: int, n: int) -> av.VideoFrame | None:
    """Frame n of stream `index`, decoding from the start: for streams that can neither be timed nor seek."""
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(container.streams[index])):
            if i == n:
                return frame
    return None


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


def _decode_audio(
    container: av.container.InputContainer,
    stream: av.audio.AudioStream,
    sample_rate: int,
    start: float = 0.0,
    stop: float | None = None,
) -> np.ndarray:
    """Mono float32 samples at `sample_rate` covering [start, stop) seconds of the stream (stop=None: to
    the end). Seeks when start > 0, so the cost is proportional to stop - start, not to the file."""
    # libswresample (via PyAV) converts each decoded frame as it arrives, in C, so only the window is ever
    # held in memory; librosa.resample would need the whole track as floats first and its first call spends
    # ~1.5 s importing. Channels are kept and averaged below: swr's own mono downmix adds L and R at -3 dB,
    # which is louder than either channel and clips when they agree.
    resampler = av.AudioResampler(format="fltp", rate=sample_rate)
    t0 = stream.start_time or 0  # in stream.time_base units
    if start > _AUDIO_PREROLL:
        container.seek(t0 + int((start - _AUDIO_PREROLL) / stream.time_base), stream=stream)
    chunks = []  # (channels, samples) float32 each
    first_time = None  # seconds from the stream start to the first decoded sample
    decoded = 0  # samples in chunks
    for frame in container.decode(stream):
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
