"""Synthesise the example clips in examples/: cartoon scenes drawn with PIL and sound made with numpy.

Every clip is synthetic (nothing here was filmed or recorded) and well under 1 MB, so the demo, the docs
and the tests have media to run on without downloading anything: five 4 s clips of one scene each,
scenes.mp4 (48 s: four of those scenes and their sounds, 12 s each, for classifying by segments) and
piano.mp3 (a sound file alone). examples.csv lists them with the label each one depicts, its kind and a
set of candidate labels to try in the demo.

    python -m examples.make_examples --out examples/
"""

import argparse
import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from avzsl.synthetic_media import write_test_video

logger = logging.getLogger(__name__)

W, H = 320, 240  # frame size
FPS = 25
SECONDS = 4.0
SR = 48_000  # audio sample rate, CLAP's
CANDIDATE_LABELS = [  # the same set for every clip, with one label (dog barking) that none depicts
    "bird chirping", "car engine", "playing drums", "playing piano", "fish in an aquarium", "dog barking"
]


@dataclass(frozen=True)
class Example:
    file: str
    label: str  # what the clip depicts
    description: str
    draw: Callable[[ImageDraw.ImageDraw, float], None]  # paints the scene at t seconds onto a W x H canvas
    sound: Callable[[np.ndarray], np.ndarray] | None  # (n,) times of the clip -> (n,) samples; None: silent


# ---------------------------------------------------------------------------------------------------------
# sound: each function maps all of a clip's sample times, (n,) seconds, to its samples in [-1, 1]


def _decay(t: np.ndarray, onsets: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """(time since the latest onset, exp(-that / tau)); zero envelope before the first onset."""
    index = np.searchsorted(onsets, t, side="right") - 1
    since = t - onsets[np.maximum(index, 0)]
    return since, np.where(index >= 0, np.exp(-since / tau), 0.0)


def bird_song(t: np.ndarray) -> np.ndarray:
    # groups of three 90 ms chirps sweeping 2.5 -> 4 kHz, a group every 0.8 s
    onsets = np.array([g * 0.8 + 0.2 + k * 0.14 for g in range(int(SECONDS / 0.8) + 1) for k in range(3)])
    since, _ = _decay(t, onsets, 1.0)
    inside = (since >= 0) & (since < 0.09)
    phase = 2 * np.pi * (2500 * since + 0.5 * (1500 / 0.09) * since**2)  # integral of the linear sweep
    return 0.4 * inside * np.sin(np.pi * since / 0.09) * np.sin(phase)


def engine(t: np.ndarray) -> np.ndarray:
    # a revving engine: firing rate rising 30 -> 45 Hz with decaying harmonics, plus rumble on each firing
    phase = 2 * np.pi * (30 * t + 7.5 * t**2 / SECONDS)  # integral of the firing rate 30 + 15 t / SECONDS
    harmonics = sum(np.sin(h * phase) / h for h in range(1, 9))
    noise = np.random.default_rng(0).standard_normal(t.shape)
    rumble = np.convolve(noise, np.ones(24) / 24, mode="same") * np.abs(np.sin(phase / 2)) ** 4  # low-passed
    out = 0.25 * harmonics + 1.5 * rumble
    return 0.5 * out / np.abs(out).max()


def drums(t: np.ndarray) -> np.ndarray:
    # 120 bpm: kick on beats 1 and 3, snare on 2 and 4, hi-hat on every eighth note
    beat = 0.5
    noise = np.random.default_rng(1).standard_normal(t.shape)
    since, env = _decay(t, np.arange(0, SECONDS, 2 * beat), 0.15)
    # pitch gliding 120 -> 50 Hz: the phase is the integral of 50 + 70 exp(-since / 0.05)
    kick = env * np.sin(2 * np.pi * (50 * since + 70 * 0.05 * (1 - np.exp(-since / 0.05))))
    since, env = _decay(t, np.arange(beat, SECONDS, 2 * beat), 0.08)
    snare = env * (0.6 * noise + 0.4 * np.sin(2 * np.pi * 180 * since))
    _, env = _decay(t, np.arange(0, SECONDS, beat / 2), 0.02)
    hat = env * np.diff(noise, prepend=0.0) * 0.3  # differenced noise: mostly highs
    return 0.7 * np.clip(kick + 0.6 * snare + hat, -1, 1)


NOTES = [261.63, 293.66, 329.63, 349.23, 392.00, 440.00, 493.88, 523.25]  # C4 .. C5, one every 0.5 s


def piano(t: np.ndarray) -> np.ndarray:
    onsets = np.arange(0, SECONDS, 0.5)
    since, env = _decay(t, onsets, 0.6)
    hz = np.array(NOTES)[(np.searchsorted(onsets, t, side="right") - 1) % len(NOTES)]
    tone = sum(np.sin(2 * np.pi * h * hz * since) / h**1.5 for h in range(1, 6))
    attack = np.minimum(since / 0.005, 1.0)  # a 5 ms attack, no click
    return 0.3 * attack * env * tone


# ---------------------------------------------------------------------------------------------------------
# pictures: each function draws the scene at time t


def _sky(draw: ImageDraw.ImageDraw, top: tuple, bottom: tuple, horizon: int) -> None:
    for y in range(horizon):
        a = y / horizon
        draw.line([(0, y), (W, y)], fill=tuple(round((1 - a) * c0 + a * c1) for c0, c1 in zip(top, bottom)))


def draw_bird(draw: ImageDraw.ImageDraw, t: float) -> None:
    _sky(draw, (90, 150, 230), (190, 220, 250), 190)
    draw.rectangle([0, 190, W, H], fill=(80, 160, 70))
    draw.ellipse([250, 20, 290, 60], fill=(255, 220, 90))
    x, y = -40 + (W + 80) * t / SECONDS, 100 + 12 * np.sin(2 * np.pi * 0.5 * t)
    draw.ellipse([x - 28, y - 15, x + 22, y + 15], fill=(170, 80, 40))  # body
    draw.ellipse([x + 12, y - 26, x + 36, y - 2], fill=(190, 95, 50))  # head
    draw.polygon([(x + 35, y - 16), (x + 50, y - 12), (x + 35, y - 8)], fill=(250, 170, 30))  # beak
    draw.ellipse([x + 26, y - 19, x + 30, y - 15], fill=(0, 0, 0))  # eye
    flap = 22 * np.sin(2 * np.pi * 5 * t)
    draw.polygon([(x - 15, y - 5), (x + 8, y - 5), (x - 8, y - 5 - flap)], fill=(120, 55, 30))  # wing
    draw.polygon([(x - 27, y - 4), (x - 45, y - 12), (x - 45, y + 6)], fill=(120, 55, 30))  # tail


def draw_car(draw: ImageDraw.ImageDraw, t: float) -> None:
    _sky(draw, (120, 170, 220), (210, 225, 240), 140)
    draw.rectangle([0, 140, W, H], fill=(70, 70, 75))
    for k in range(-1, 8):  # lane dashes sliding left: the camera follows the car
        x0 = k * 50 - (120 * t) % 50
        draw.rectangle([x0, 188, x0 + 26, 193], fill=(240, 240, 240))
    x = 80 + 20 * np.sin(2 * np.pi * 0.25 * t)
    y = 150 + (1 if int(t * FPS) % 2 else 0)  # engine shake
    paint, glass = (200, 30, 40), (170, 210, 240)
    draw.rounded_rectangle([x, y - 30, x + 160, y + 20], radius=10, fill=paint)
    draw.polygon([(x + 35, y - 30), (x + 55, y - 58), (x + 115, y - 58), (x + 135, y - 30)], fill=paint)
    draw.polygon([(x + 45, y - 32), (x + 60, y - 53), (x + 82, y - 53), (x + 82, y - 32)], fill=glass)
    draw.polygon([(x + 88, y - 32), (x + 88, y - 53), (x + 110, y - 53), (x + 125, y - 32)], fill=glass)
    for cx in (x + 35, x + 125):  # wheels with turning spokes
        draw.ellipse([cx - 18, y + 2, cx + 18, y + 38], fill=(25, 25, 25))
        for spoke in range(3):
            a = -12 * t + spoke * 2 * np.pi / 3
            end = (cx + 11 * np.cos(a), y + 20 + 11 * np.sin(a))
            draw.line([(cx, y + 20), end], fill=(160, 160, 160), width=3)
    draw.ellipse([x + 150, y - 20, x + 160, y - 10], fill=(255, 240, 150))  # headlight


def draw_drums(draw: ImageDraw.ImageDraw, t: float) -> None:
    draw.rectangle([0, 0, W, H], fill=(35, 25, 45))
    draw.ellipse([60, 10, 260, 110], fill=(70, 50, 90))  # spotlight
    draw.rectangle([100, 120, 220, 190], fill=(180, 30, 30))  # shell
    draw.ellipse([100, 175, 220, 205], fill=(150, 20, 20))
    draw.ellipse([100, 105, 220, 135], fill=(235, 230, 215))  # head
    draw.line([(255, 90), (255, 200)], fill=(150, 150, 150), width=3)
    draw.ellipse([225, 80, 285, 96], fill=(220, 180, 60))  # cymbal
    for side, offset in ((-1, 0.0), (1, 0.25)):  # sticks take turns: one on the beat, one between beats
        lift = 35 * min(((t - offset) % 0.5) / 0.2, 1.0)  # down on the hit, back up within 0.2 s
        stick = [(160 + side * 75, 60 - lift / 2), (160 + side * 20, 118 - lift)]  # (hand, tip)
        draw.line(stick, fill=(230, 200, 150), width=5)


def draw_piano(draw: ImageDraw.ImageDraw, t: float) -> None:
    draw.rectangle([0, 0, W, H], fill=(40, 30, 25))
    draw.rectangle([10, 110, W - 10, 125], fill=(20, 15, 10))  # fallboard
    white = (W - 20) / 14
    playing = int(t / 0.5) % len(NOTES)  # the white key being played: C4 is the leftmost
    for k in range(14):
        x0 = 10 + k * white
        pressed = k == playing
        colour = (255, 210, 120) if pressed else (245, 245, 240)
        draw.rectangle([x0, 125, x0 + white - 2, 228 if pressed else 225], fill=colour)
    for k in range(14):
        if k % 7 not in (2, 6):  # no black key between E-F and B-C
            x0 = 10 + (k + 1) * white - white * 0.3
            draw.rectangle([x0, 125, x0 + white * 0.6, 185], fill=(15, 15, 15))
    for n in range(4):  # notes drifting up from the keyboard
        age = (t - n * 0.5) % 2.0
        x, y = 60 + n * 60 + 10 * np.sin(3 * age), 100 - 40 * age
        draw.ellipse([x, y, x + 14, y + 10], fill=(240, 240, 240))
        draw.line([(x + 13, y + 5), (x + 13, y - 22)], fill=(240, 240, 240), width=2)


def draw_aquarium(draw: ImageDraw.ImageDraw, t: float) -> None:
    _sky(draw, (30, 110, 170), (10, 50, 100), H)
    draw.rectangle([0, 205, W, H], fill=(210, 190, 140))  # sand
    for base in (40, 120, 270):  # seaweed swaying, more towards the tip
        sway = [8 * np.sin(2 * np.pi * 0.5 * t + y / 25) * (205 - y) / 100 for y in range(205, 100, -10)]
        draw.line([(base + dx, y) for dx, y in zip(sway, range(205, 100, -10))], fill=(40, 150, 70), width=6)
    for k, (speed, y, colour) in enumerate([(60, 80, (255, 140, 0)), (-45, 150, (250, 230, 60))]):
        x = (30 + k * 150 + speed * t) % (W + 80) - 40
        facing = 1 if speed > 0 else -1
        draw.ellipse([x - 22, y - 12, x + 22, y + 12], fill=colour)
        tail = x - 38 * facing
        draw.polygon([(x - 18 * facing, y), (tail, y - 13), (tail, y + 13)], fill=colour)
        draw.ellipse([x + 10 * facing - 3, y - 6, x + 10 * facing + 3, y], fill=(0, 0, 0))
    for k in range(6):  # bubbles
        y = 200 - ((t * 40 + k * 35) % 200)
        draw.ellipse([250 + 5 * np.sin(y / 10), y, 258 + 5 * np.sin(y / 10), y + 8], outline=(200, 230, 255))


EXAMPLES = [
    Example("bird.mp4", "bird chirping", "a cartoon bird flies across the sky; chirps", draw_bird, bird_song),
    Example("car.mp4", "car engine", "a cartoon car drives along a road; a revving engine", draw_car, engine),
    Example("drums.mp4", "playing drums", "a drum hit on the beat; kick, snare, hi-hat", draw_drums, drums),
    Example("piano.mp4", "playing piano", "a keyboard playing a C major scale", draw_piano, piano),
    Example("aquarium.mp4", "fish in an aquarium", "fish swim past seaweed; no audio", draw_aquarium, None),
]


def frames(example: Example) -> Callable[[int, float], np.ndarray]:
    def frame(i: int, t: float) -> np.ndarray:
        image = Image.new("RGB", (W, H))
        draw = ImageDraw.Draw(image)
        example.draw(draw, t)
        draw.text((W - 58, H - 14), "synthetic", fill=(255, 255, 255))  # never mistaken for real footage
        return np.asarray(image)  # (H, W, 3) uint8

    return frame


def sound(example: Example) -> Callable[[np.ndarray], np.ndarray] | None:
    """The writer asks for a second of audio at a time; synthesise the whole clip once and hand out slices,
    so noise does not repeat every second and normalisation is over the whole clip."""
    if example.sound is None:
        return None
    samples = example.sound(np.arange(round(SECONDS * SR)) / SR)  # (n,)
    return lambda t: samples[np.round(t * SR).astype(int)]


# ---------------------------------------------------------------------------------------------------------
# the multi-scene clip and the sound file

SCENES = EXAMPLES[:4]  # bird, car, drums, piano: the scenes with sound
SCENES_FILE = "scenes.mp4"
SCENE_SECONDS = 12.0  # longer than CLAP's 10 s window, so a window centred on a scene hears only that scene
SCENES_FPS = 10  # 48 s at 25 fps would pass 1 MB; the cartoons move slowly enough for 10
SOUND_FILE = "piano.mp3"


def scene_frames() -> Callable[[int, float], np.ndarray]:
    """Scene k covers [12 k, 12 (k + 1)) s; inside it the 4 s clip's animation loops (local time t mod 4)."""
    renderers = [frames(example) for example in SCENES]

    def frame(i: int, t: float) -> np.ndarray:
        k = min(int(t // SCENE_SECONDS), len(SCENES) - 1)
        return renderers[k](i, (t - k * SCENE_SECONDS) % SECONDS)  # (H, W, 3) uint8

    return frame


def scene_sound() -> Callable[[np.ndarray], np.ndarray]:
    """Each scene's 4 s sound repeated three times; the scenes follow each other without a gap."""
    clip = [example.sound(np.arange(round(SECONDS * SR)) / SR) for example in SCENES]  # (4 s * SR,) each
    repeats = round(SCENE_SECONDS / SECONDS)
    samples = np.concatenate([np.tile(c, repeats) for c in clip])  # (48 s * SR,)
    return lambda t: samples[np.round(t * SR).astype(int)]


def write_mp3(path: Path, samples: np.ndarray) -> None:
    """samples (n,) in [-1, 1] at SR -> a mono MP3 (libmp3lame, 64 kbit/s)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=SR, layout="mono")
        stream.bit_rate = 64_000
        step = 1152 * 8
        for first in range(0, len(samples), step):
            chunk = samples[first : first + step].astype(np.float32)[None]  # (1, <= step)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SR, first
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = Path(__file__).parent
    parser.add_argument("--out", type=Path, default=here, help="output folder (default: examples/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)

    for example in EXAMPLES:
        path = args.out / example.file
        write_test_video(
            path,
            seconds=SECONDS,
            width=W,
            height=H,
            fps=FPS,
            audio_hz=None,
            sample_rate=SR,
            frame_fn=frames(example),
            audio_fn=sound(example),
        )
        logger.info("wrote %s (%.0f kB)", path, path.stat().st_size / 1e3)

    path = args.out / SCENES_FILE
    write_test_video(path, seconds=SCENE_SECONDS * len(SCENES), width=W, height=H, fps=SCENES_FPS, audio_hz=None,
                     sample_rate=SR, frame_fn=scene_frames(), audio_fn=scene_sound())
    logger.info("wrote %s (%.0f kB)", path, path.stat().st_size / 1e3)
    path = args.out / SOUND_FILE
    write_mp3(path, piano(np.arange(round(SECONDS * SR)) / SR))
    logger.info("wrote %s (%.0f kB)", path, path.stat().st_size / 1e3)

    source = "synthetic: drawn with PIL, any sound synthesised with numpy (examples/make_examples.py)"
    with open(args.out / "examples.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "suggested_labels", "has_audio", "kind", "source", "description"])
        for example in EXAMPLES:
            writer.writerow([example.file, example.label, "; ".join(CANDIDATE_LABELS),
                             "yes" if example.sound else "no", "video", source, example.description])
        scenes = [example.label for example in SCENES]
        writer.writerow([SCENES_FILE, "; ".join(scenes), "; ".join(CANDIDATE_LABELS), "yes", "video", source,
                         f"four scenes of {SCENE_SECONDS:g} s, each with its own sound: " + ", then ".join(scenes)])
        writer.writerow([SOUND_FILE, "playing piano", "; ".join(CANDIDATE_LABELS), "yes", "audio", source,
                         "a sound file alone (no picture): a piano playing a C major scale"])
    logger.info("wrote %s", args.out / "examples.csv")


if __name__ == "__main__":
    main()
