"""The frames on screen at given moments of a video stream, by seeking (see load_media)."""

import itertools
from collections.abc import Sequence

import av
import numpy as np

from avzsl.media.container import (CorruptVideoError, EmptyVideoError, Moment, NotAVideoError, check_pixels,
                                   decode_to_the_cut, open_media, scan_packets, stated_duration, video_streams)


def frames_at(
    path: str, moments: Sequence[Moment], keyframes_only: bool = False, cut: list | None = None
) -> tuple[list[tuple[np.ndarray, float]], float]:
    """([(frame (H, W, 3) uint8 RGB, its time in s)] on screen at each moment, video duration in s), from
    one open of the file. `moments` must be in increasing order. keyframes_only: see _FrameCursor. A file
    whose frames stop before its stated duration (cut short) is read over the part that plays, and (seconds
    that play, seconds stated) is added to `cut`."""
    with open_media(path) as container:
        streams = video_streams(container)
        if not streams:
            raise NotAVideoError(f"{path} has no video stream")
        stream = streams[0]
        times = [None] * len(moments)  # frame times, when they cannot come from timestamps
        try:
            duration = stated_duration(container, stream)
            trusted = bool(stream.duration)  # the file's duration may belong to a longer audio track
            cursor = _FrameCursor(container, stream, keyframes_only)
            frames = [cursor.at(duration * p / q) if duration else None for p, q in moments]
            if None in frames:
                # No per-stream duration (browser recordings have none at all), or frames that stop before
                # it (a file cut short): find the real end from the packet timestamps, which reads the file
                # but decodes nothing.
                end, count = scan_packets(path, stream.index)
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
            if None in frames:
                p, q = moments[frames.index(None)]
                if _nth_frames(path, stream.index, [0])[0] is None:
                    raise EmptyVideoError(f"{path} contains no video frames")
                where = "the middle of the video" if (p, q) == (1, 2) else f"{duration * p / q:.1f} s"
                raise CorruptVideoError(
                    f"{path}: the video frames stop before {where}; the file is probably truncated or damaged"
                )
            out = []
            for frame, time in zip(frames, times):
                image = frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8
                if frame.rotation:  # phone videos: the display matrix says how far to turn the stored frame, CCW
                    image = np.rot90(image, k=round(frame.rotation / 90))
                if time is None:
                    time = float((frame.pts - (stream.start_time or 0)) * stream.time_base)
                # odd widths come back as a view into FFmpeg's padded rows; rotation also leaves a strided view
                out.append((np.ascontiguousarray(image), time))
        except av.error.FFmpegError as e:
            raise CorruptVideoError(f"{path}: the video frames cannot be decoded ({e.strerror})") from e
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
            self.frames, self.keyframe_pts, chosen, pending = decode_to_the_cut(self.container, stream), None, None, []
        self.shown = self.ahead = None
        for frame in itertools.chain(pending, self.frames):
            if frame.pts is None:
                continue
            check_pixels(self.container.name, frame.width, frame.height)  # before a huge one is kept
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
                check_pixels(path, frame.width, frame.height)
                found[i] = frame
            if i >= max(wanted):
                break
    return [found.get(i) for i in wanted]
