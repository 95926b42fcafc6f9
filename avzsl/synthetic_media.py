"""Write small synthetic videos (H.264 + AAC in MP4) with PyAV, for tests, examples and benchmarks.

    python -m avzsl.synthetic_media demo_videos     # a labelled folder to try extraction on (4 classes x 4 clips)
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from avzsl.cli import add_debug_option, command_parser, entry_point

# numpy and PyAV are imported where used: `python -m avzsl.synthetic_media` then answers Ctrl-C in one line.
FrameFn = Callable[[int, float], "np.ndarray"]  # (frame index, seconds) -> (H, W, 3) uint8 RGB
AudioFn = Callable[["np.ndarray"], "np.ndarray"]  # (n,) seconds -> (n,) samples in [-1, 1]


def write_test_video(
    path: str | os.PathLike,
    *,
    seconds: float,
    width: int,
    height: int,
    fps: int | Fraction = 25,
    audio_hz: float | None = 440.0,
    sample_rate: int = 48000,
    audio_codec: str = "aac",
    frame_fn: FrameFn | None = None,
    audio_fn: AudioFn | None = None,
) -> str:
    """Encode `seconds` of video (and a mono AAC track unless audio_hz and audio_fn are both None).

    frame_fn renders frame i at time t (default: a moving colour gradient); audio_fn maps sample times to
    samples (default: a sine at audio_hz). Cost is dominated by the encoders: keep long videos tiny
    (e.g. 64x48 at 2 fps with 8 kHz audio writes 20 minutes in about two seconds). For hours, use a
    fractional fps (Fraction(1, 10): a frame every 10 s) and audio_codec="pcm_u8" at a low sample rate in a
    .mov (PCM costs nothing to encode; MP4 does not take PCM).
    """
    import av
    import numpy as np

    path = os.fspath(path)
    if frame_fn is None:  # a colour gradient: bands sliding right
        x = np.linspace(0.0, 1.0, width)[None, :]  # (1, W)
        y = np.linspace(0.0, 1.0, height)[:, None]  # (H, 1)

        def frame_fn(i: int, t: float) -> np.ndarray:
            r = np.broadcast_to((x + 0.25 * t) % 1.0, (height, width))
            g = np.broadcast_to(y, (height, width))
            b = np.full_like(r, 0.5 + 0.5 * np.sin(t))
            return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)  # (H, W, 3)

    if audio_fn is None and audio_hz is not None:
        audio_fn = lambda t: 0.3 * np.sin(2 * np.pi * audio_hz * t)  # noqa: E731
    n_frames = round(seconds * fps)
    n_samples = round(seconds * sample_rate)

    with av.open(path, "w", options={"movflags": "+faststart"}) as out:  # index first, as on the web
        if "libx264" in av.codecs_available:
            video = out.add_stream("libx264", rate=fps)
            # 4:2:0 chroma needs even sizes; 4:4:4 lets tests cover odd ones such as 97x61
            video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
            video.options = {"preset": "veryfast"}  # keeps B-frames, so decoding sees reordered frames
        else:
            video = out.add_stream("mpeg4", rate=fps)
            video.pix_fmt = "yuv420p"
        video.width, video.height = width, height
        audio = None
        if audio_fn is not None:
            audio = out.add_stream(audio_codec, rate=sample_rate, layout="mono")
            if audio_codec == "aac":
                # ~1 bit per sample is plenty for synthetic sound and keeps FFmpeg's AAC encoder, the slow
                # part of writing long files, fast
                audio.bit_rate = sample_rate
                audio.options = {"aac_coder": "fast"}
        # one second at a time, so the muxer interleaves audio and video as a real file would
        for second in range(int(np.ceil(seconds))):
            for i in range(math.ceil(second * fps), min(math.ceil((second + 1) * fps), n_frames)):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_fn(i, float(i / fps))), format="rgb24")
                frame.pts = i  # time_base is 1/fps
                out.mux(video.encode(frame))
            if audio is not None:
                first, last = second * sample_rate, min((second + 1) * sample_rate, n_samples)
                samples = audio_fn(np.arange(first, last) / sample_rate).astype(np.float32)  # (n,)
                chunk = av.AudioFrame.from_ndarray(samples[None], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = sample_rate, first
                out.mux(audio.encode(chunk))
        out.mux(video.encode())
        if audio is not None:
            out.mux(audio.encode())
    return path


DEMO_CLASSES = ("dog_barking", "playing drums", "Car engine", "rain")


def write_labelled_folder(root: str | os.PathLike, classes: tuple[str, ...] = DEMO_CLASSES, per_class: int = 4
                          ) -> Path:
    """One folder per class of `per_class` one-second 64x48 clips, each a different flat grey and tone: the
    layout `python -m avzsl.extract` reads. SYNTHETIC: the clips mean nothing."""
    import numpy as np

    root = Path(root)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shade = (40 * c + 10 * i) % 256
            write_test_video(root / name / f"{name[:3]}_{i}.mp4", seconds=1.0, width=64, height=48, fps=5,
                             audio_hz=200 + 150 * c + 20 * i,
                             frame_fn=lambda k, t, s=shade: np.full((48, 64, 3), s, np.uint8))
    return root


@entry_point
def main(argv: list[str] | None = None) -> int:
    p = command_parser("avzsl.synthetic_media", __doc__)
    p.add_argument("out", type=Path, help="folder to write (one sub-folder per class)")
    p.add_argument("--per-class", type=int, default=4, help="clips per class (default 4)")
    add_debug_option(p)
    args = p.parse_args(argv)
    write_labelled_folder(args.out, per_class=args.per_class)
    print(f"wrote {len(DEMO_CLASSES)} classes x {args.per_class} SYNTHETIC clips to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
