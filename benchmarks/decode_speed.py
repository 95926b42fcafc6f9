"""How long `avzsl.media.load_media` takes for the middle moment, against the same decode done with moviepy;
and how long it takes for 8 segments, against 8 separate single-moment decodes.

Both decoders produce the same thing: the frame at duration / 2 and the centred 10 s of audio, mono at
48 kHz. moviepy runs an ffmpeg process per reader (one for frames, one for audio) and pipes raw data back;
PyAV calls FFmpeg's libraries in-process. Both seek, so both should be flat in the video's length.

    python -m benchmarks.decode_speed                 # clips are cached in $TMPDIR/avzsl-decode-bench
    python -m benchmarks.decode_speed --runs 9 --long-fps 5

The segments rows decode 8 evenly spaced frames and 10 s audio windows; "8 x single" opens the file afresh
and seeks for each moment, as 8 calls of a one-moment loader would; keyframes_only takes the keyframe before
each moment instead of the exact frame. --no-moviepy skips the moviepy column.

The 20-minute clip takes a few minutes to write the first time (x264 at 25 fps); --long-fps lowers that.
Decode work per seek depends on frames per keyframe interval (x264: 250), not on fps, so the comparison
holds at a lower fps too.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from avzsl.media import AUDIO_WINDOW_SECONDS, DEFAULT_SAMPLE_RATE, load_media
from avzsl.media.audio import audio_windows
from avzsl.media.video import frames_at
from avzsl.synthetic_media import write_test_video


def moviepy_decode(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(frame (H, W, 3) uint8, audio (n,) float mono 48 kHz): what load_media gives for one segment, the moviepy way."""
    from moviepy import VideoFileClip  # imported here so its import time is not charged to PyAV

    with VideoFileClip(path, audio_fps=DEFAULT_SAMPLE_RATE) as clip:
        middle = clip.duration / 2
        frame = clip.get_frame(middle)
        start = max(0.0, middle - AUDIO_WINDOW_SECONDS / 2)
        window = clip.audio.subclipped(start, min(clip.duration, start + AUDIO_WINDOW_SECONDS))
        audio = window.to_soundarray(fps=DEFAULT_SAMPLE_RATE).mean(axis=1)  # (n, channels) -> (n,)
    return frame, audio


SEGMENTS = 8


def segments_decode(path: str):
    return load_media(path, SEGMENTS)


def segments_keyframes(path: str):
    return load_media(path, SEGMENTS, keyframes_only=True)


def separate_decodes(path: str):
    """The same 8 frames and windows, each moment decoded by its own open of the file."""
    out = []
    for i in range(SEGMENTS):
        moment = [(2 * i + 1, 2 * SEGMENTS)]
        frames, _ = frames_at(path, moment)
        windows, _ = audio_windows(path, moment, DEFAULT_SAMPLE_RATE, AUDIO_WINDOW_SECONDS)
        out.append((frames[0], windows[0]))
    return out


def median_ms(fn, path: str, runs: int) -> float:
    fn(path)  # warm up: imports, page cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def clip(workdir: Path, name: str, **kwargs) -> str:
    path = workdir / name
    if not path.exists():
        print(f"writing {path} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        tmp = workdir / f"partial-{name}"
        write_test_video(tmp, **kwargs)
        os.replace(tmp, path)  # a run killed half-way leaves no half-written clip to be reused
        print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per cell (median reported)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "avzsl-decode-bench")
    parser.add_argument("--long-fps", type=int, default=25, help="fps of the 20-minute clip")
    parser.add_argument("--no-moviepy", action="store_true", help="skip the moviepy column")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)

    size = dict(width=640, height=360, sample_rate=48_000)
    clips = {
        "10 s, 640x360, 25 fps": clip(args.workdir, "10s_360p_25fps.mp4", seconds=10, fps=25, **size),
        f"20 min, 640x360, {args.long_fps} fps": clip(
            args.workdir, f"20min_360p_{args.long_fps}fps.mp4", seconds=20 * 60, fps=args.long_fps, **size
        ),
    }
    print(f"\nmedian of {args.runs} runs, ms (middle frame + centred 10 s of 48 kHz mono audio)\n")
    print(f"{'clip':<28}{'PyAV (avzsl)':>14}{'moviepy':>12}{'speed-up':>10}")
    for name, path in clips.items():
        pyav = median_ms(load_media, path, args.runs)
        if args.no_moviepy:
            print(f"{name:<28}{pyav:>14.0f}{'-':>12}{'-':>10}")
            continue
        moviepy = median_ms(moviepy_decode, path, args.runs)
        print(f"{name:<28}{pyav:>14.0f}{moviepy:>12.0f}{moviepy / pyav:>9.1f}x")

    print(f"\nmedian of {args.runs} runs, ms ({SEGMENTS} evenly spaced frames + 10 s windows of 48 kHz audio)\n")
    print(f"{'clip':<28}{'8 x single':>12}{'load_media':>15}{'keyframes_only':>16}")
    for name, path in clips.items():
        apart = median_ms(separate_decodes, path, args.runs)
        together = median_ms(segments_decode, path, args.runs)
        keyframes = median_ms(segments_keyframes, path, args.runs)
        print(f"{name:<28}{apart:>12.0f}{together:>15.0f}{keyframes:>16.0f}")


if __name__ == "__main__":
    main()
