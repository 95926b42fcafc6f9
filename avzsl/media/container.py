"""Opening a media file with FFmpeg (PyAV): telling a video, a sound file and a picture apart, the errors a
bad file raises, and what the video and audio decoders share (stream durations, packet scans, decoding up
to a cut)."""

import os
from collections.abc import Iterator
from typing import Literal

import av

from avzsl.io import AvzslError

MAX_PICTURE_PIXELS = 8192 * 8192  # larger pictures and video frames are refused: 67 Mpx, 200 MB as RGB

MediaKind = Literal["video", "audio", "image"]
Moment = tuple[int, int]  # (p, q): the moment p / q of the way through the stream, exact for any length

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


def open_media(path: str) -> av.container.InputContainer:
    """Open a file FFmpeg can read as a video, sound or picture."""
    if not os.path.exists(path):
        raise MediaNotFoundError(f"No such media file: {path}")
    if os.path.isdir(path):
        raise NotAVideoError(f"{path} is a directory, not {_ANY_MEDIA}")
    if os.path.getsize(path) == 0:
        raise EmptyVideoError(f"{path} is empty (0 bytes)")
    error = None
    try:
        # FFmpeg's probe decodes a first frame; max_pixels keeps it from decoding a huge one (a PNG of
        # 14000 x 14000 took 600 MB just to open), whose size then reads as 0 until check_pixels refuses it
        container = av.open(path, metadata_errors="replace", options={"max_pixels": str(MAX_PICTURE_PIXELS)})
        # FFmpeg's "tty" demuxer renders any .txt (or .ans, .nfo) file as a video of its text
        if container.format.name != "tty" and (container.streams.video or container.streams.audio):
            return container
        container.close()  # a header cut short can still "open", with no or codec-less streams
    except av.error.FFmpegError as e:
        if isinstance(e, OSError):  # permissions and the like are not about the file's content
            raise
        error = e
    with open(path, "rb") as f:
        head = f.read(16)
    # A file may stop inside the signature itself: a browser recording cut off after its first byte (0x1a of
    # WebM's EBML magic) is a truncated video, not "some other kind of file".
    if any(magic.startswith(head[offset : offset + len(magic)]) and len(head) > offset
           for offset, magic in _MEDIA_SIGNATURES):
        raise CorruptVideoError(
            f"{path} looks like a media file but cannot be opened ({os.path.getsize(path):,} bytes); it is "
            "probably truncated (an upload or a recording cut short) or damaged"
        ) from error
    raise NotAVideoError(f"{path} is not {_ANY_MEDIA} (its format is not recognised)") from error


def media_kind(path: str) -> MediaKind:
    with open_media(path) as container:
        # FFmpeg opens a single picture with an image demuxer ("png_pipe", "jpeg_pipe", "image2", ...); a GIF
        # is a video to it, and a picture when it holds one frame
        name = container.format.name
        videos = video_streams(container)
        if name == "image2" or name.endswith("_pipe") or (name == "gif" and videos and videos[0].frames <= 1):
            return "image"
        return "video" if videos else "audio"


def check_pixels(path: str, width: int, height: int) -> None:
    """Refuse a picture or video frame of more than MAX_PICTURE_PIXELS, before it is converted to RGB."""
    if width * height > MAX_PICTURE_PIXELS:
        raise MediaError(f"{path}: the picture is {width} x {height} pixels, more than the {MAX_PICTURE_PIXELS:,} "
                         "accepted")


def video_streams(container: av.container.InputContainer) -> list[av.video.VideoStream]:
    # cover art in audio files is a one-picture "video" stream flagged as an attached picture
    return [s for s in container.streams.video if not s.disposition & _ATTACHED_PIC]


def stated_duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    """Seconds the stream says it lasts, else the file (MKV/WebM state only the file's duration, which may
    belong to a longer track), else None."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration is not None else None


def scan_packets(path: str, index: int) -> tuple[float | None, int]:
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


def decode_to_the_cut(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.frame.Frame]:
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
