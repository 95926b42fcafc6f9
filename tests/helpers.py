"""Names and helpers that several test files share: test files never import each other, they import these (the
expensive set-ups themselves, trained checkpoints and extracted stores, are session fixtures in tests/conftest.py,
built once per test session)."""

from __future__ import annotations

import functools
import socket
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from avzsl.encoders.dims import InputDims
from avzsl.models.architectures import AVCAConfig, ClipClapConfig, CoGeConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MATCHING, OTHER_ENCODERS = "synthetic-512", "other-encoders"  # folders of the `app_checkpoints` fixture
COGE = "coge-synthetic-512"  # the folder of the `coge_checkpoints` fixture
SCHEMA_1 = Path(__file__).parent / "data" / "checkpoint-schema-1"  # avzsl 0.1's bundle (config and metrics)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # Chromium's built-in test camera and microphone (a moving pie on green, a beep each second),
                 # granted without a prompt: the webcam input is exercised like a real one.
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def random_service(checkpoints: Path | None):
    from avzsl.serving.service import create_service

    return create_service("random", checkpoints)  # encoders are built once per process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(service, tmp_path: Path, *, warm_up: bool = False):
    """Launch the app's page in this process (as app.py does) on a free port; yields (demo, url)."""
    from app.maps import MapMaker
    from app.ui import build_demo, launch
    from avzsl.maps.projection import ProjectionCache

    maps = MapMaker(service, ProjectionCache(tmp_path / "maps"))
    if warm_up:
        maps.warm_up_in_background()
    demo = build_demo(service, maps=maps)
    _, url, _ = launch(demo, host="127.0.0.1", port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo, url
    finally:
        demo.close()


def connect_app(url: str, app, timeout: float = 180):
    """A gradio_client Client for the app that the subprocess `app` is starting at `url`, once it answers."""
    import time

    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while True:
        if app.poll() is not None:
            raise AssertionError(f"the app exited: {app.stdout.read()[-3000:]}")
        try:
            return Client(url, verbose=False)
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# --- extraction (tests/test_extract*.py) ----------------------------------------------------------------------

def write_video_folder(root: Path, per_class: int) -> Path:
    """The 4 demo classes x `per_class` one-second clips (each a different picture and tone), one damaged file,
    one silent clip."""
    from avzsl.synthetic_media import DEMO_CLASSES, write_labelled_folder, write_test_video

    write_labelled_folder(root, DEMO_CLASSES, per_class)
    (root / "rain" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this file was cut short")
    write_test_video(root / "rain" / "silent.mp4", seconds=1.0, width=64, height=48, fps=5, audio_hz=None)
    return root


def run_extract(video_folder: Path, out: Path, *extra: str) -> int:
    """`python -m avzsl.extract` on a folder with a random split and random-weight encoders; its exit code."""
    from avzsl.extract import main as extract_main

    return extract_main([str(video_folder), "--out", str(out), "--random-split", "0", "--encoders", "random",
                         "--no-progress", "--batch-size", "4", *extra])


def assert_same_store(a: Path, b: Path) -> None:
    """Two feature stores hold the same split, class text, rows and failures (features to float32 rounding)."""
    import numpy as np

    from avzsl.data.features import SAMPLE_SUBSETS
    from avzsl.data.store import read_store

    x, y = read_store(a), read_store(b)
    assert x.split == y.split
    np.testing.assert_array_equal(x.text.embeddings, y.text.embeddings)
    for name in SAMPLE_SUBSETS:
        assert x.subsets[name].video_ids == y.subsets[name].video_ids
        np.testing.assert_array_equal(x.subsets[name].labels, y.subsets[name].labels)
        np.testing.assert_allclose(x.subsets[name].audio, y.subsets[name].audio, atol=1e-5)
        np.testing.assert_allclose(x.subsets[name].visual, y.subsets[name].visual, atol=1e-5)
    assert failed_report(a) == failed_report(b)


def failed_report(store: Path) -> str | None:
    """The store's list of videos that failed (FAILED_REPORT), None when every video was extracted."""
    from avzsl.extraction import FAILED_REPORT

    path = store / FAILED_REPORT
    return path.read_text() if path.is_file() else None


class Child:
    """`python *argv` started now, in a process of its own (in ROOT, with `env`, else this process's environment);
    `result()` waits for it and keeps what it printed. Tests start several at once (each is seconds of imports)
    and read each one later; `stop()` ends one that nobody read (a test failed first)."""

    def __init__(self, *argv: str, env: dict | None = None):
        import subprocess
        import sys

        self.env = env
        self.process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self._result = None

    def result(self, *, check: bool = False, timeout: float = 600):
        """Its subprocess.CompletedProcess (stdout and stderr as text); `check`: assert that it exited with 0."""
        import subprocess

        if self._result is None:
            stdout, stderr = self.process.communicate(timeout=timeout)
            self._result = subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)
        if check:
            assert self._result.returncode == 0, self._result.stdout[-1000:] + self._result.stderr[-3000:]
        return self._result

    def stop(self) -> None:
        if self._result is None:
            self.process.kill()  # nothing happens to one that has finished
            self.process.communicate()


@functools.cache
def encoders_build_in_a_new_process():
    """A fresh process that builds both presets' random-weight encoders (and one audio embedding each), started
    once per session (tests/conftest.py starts it as soon as a selected test needs it, so it runs beside the
    tests before). Its last line of output is JSON: {"heavy": librosa's numba-compiled modules it imported,
    "clip" / "clap": state_digest of the laion-clap preset's towers}. Read with `new_process_result`."""
    import textwrap

    script = textwrap.dedent("""
        import json, sys, torch
        from avzsl.encoders.loader import load_encoders
        from tests.helpers import state_digest
        built = {}
        for preset in ("laion-clap:random", "clipclap-release:random"):
            built[preset] = enc = load_encoders(preset)
            assert enc.embed_audio(torch.zeros(1, enc.window_samples).numpy()).shape[0] == 1
        heavy = [m for m in ("numba", "librosa.filters", "librosa.util", "librosa.core") if m in sys.modules]
        default = built["laion-clap:random"]
        print(json.dumps({"heavy": heavy, "clip": state_digest(default.clip.model),
                          "clap": state_digest(default.clap.model)}))
    """)
    return Child("-c", script)


@functools.cache
def new_process_result() -> dict:
    """The JSON that `encoders_build_in_a_new_process` printed (its exit code checked)."""
    import json

    return json.loads(encoders_build_in_a_new_process().result(check=True).stdout.splitlines()[-1])


def state_digest(module) -> str:
    """sha256 over every parameter and buffer of a torch module, by name."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


# --- media (tests/test_media*.py): frames that carry their index, tones with known levels ---------------------

BITS = 16  # frame index bits drawn in the bottom half
TONE_RMS = 0.3 / np.sqrt(2)  # of the 0.3-amplitude test tone


def indexed_frames(width: int, height: int, seconds: float):
    """frame_fn: top half grey with brightness t / seconds, bottom half frame index i in binary blocks."""

    def frame(i: int, t: float) -> np.ndarray:
        img = np.zeros((height, width, 3), np.uint8)
        img[: height // 2] = round(255 * t / seconds)
        block = width // BITS
        for bit in range(BITS):
            if i >> bit & 1:
                img[height // 2 :, bit * block : (bit + 1) * block] = 255
        return img

    return frame


def read_index(frame: np.ndarray) -> int:
    height, width, _ = frame.shape
    block = width // BITS
    bottom = frame[height // 2 + 2 : height - 2].mean(axis=(0, 2))  # (W,), away from the half boundary
    lit = [bottom[bit * block + 1 : (bit + 1) * block - 1].mean() > 128 for bit in range(BITS)]
    return sum(1 << bit for bit in range(BITS) if lit[bit])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def span(audio: np.ndarray, start: float, stop: float) -> np.ndarray:
    """The samples of `audio` (at avzsl's sample rate) from `start` to `stop` seconds."""
    from avzsl.media import DEFAULT_SAMPLE_RATE

    return audio[round(start * DEFAULT_SAMPLE_RATE) : round(stop * DEFAULT_SAMPLE_RATE)]


# --- failures (tests/test_training_failures.py, test_extract_disk_full.py) -------------------------------------

def fill_the_disk_at(monkeypatch, file_name: str, times: int = 1):
    """Writes of `file_name` through avzsl.io fail as on a full disk (ENOSPC) after writing half, `times` times."""
    import errno

    import avzsl.io

    real = avzsl.io.atomic_write
    failures = []

    def atomic_write(path, write):
        if str(path).endswith(file_name) and len(failures) < times:
            def half_then_full(tmp):
                tmp.write_bytes(b"\x00" * 100)
                failures.append(path)
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
            return real(path, half_then_full)
        return real(path, write)

    monkeypatch.setattr(avzsl.io, "atomic_write", atomic_write)
    return failures


# --- tiny models (tests/test_faithful_models.py, test_faithful_golden.py) ----------------------------------------

# Audio and visual of different sizes, each text part the size of its modality: a swap cannot go unnoticed.
DIMS = InputDims(audio=24, visual=16, text_parts=(("clip", 16), ("clap", 24)))
TINY = {
    "clipclap": ClipClapConfig(d_model=20, d_hidden=18, d_out=6, encoder_dropout=0.0, decoder_dropout=0.0,
                               additional_dropout=0.0),
    "avca": AVCAConfig(d_hidden=18, d_feature=12, d_out=6, attention_heads=3, attention_ff_hidden=8,
                       encoder_dropout=0.0, projection_dropout=0.0, decoder_dropout=0.0),
    "coge": CoGeConfig(d_mask_hidden=10, d_feature=12, d_hidden=14, d_out=6, attention_heads=3,
                       attention_ff_hidden=8, dropout=0.0, mask_fraction=0.25),
}


# --- a smaller labelled folder (tests/test_extract.py) ----------------------------------------------------------

# The fewest clips of each demo class that a random split with seed 0 takes (plan.py: a seen class needs 3, a
# validation-unseen class 2, a test-unseen class 1; seed 0 draws dog_barking and rain seen, Car engine
# validation-unseen, playing drums test-unseen). A change of that draw fails loudly: "too few videos".
FEWEST_CLIPS = {"dog_barking": 3, "rain": 3, "Car engine": 2, "playing drums": 1}


def copy_fewest_clips(video_folder: Path, dest: Path) -> Path:
    """A copy of `write_video_folder`'s folder with FEWEST_CLIPS clips of each class, the damaged file and the
    silent clip: 11 files, 9 of them good, for tests whose property needs a split but not every clip."""
    import shutil

    for name, count in FEWEST_CLIPS.items():
        (dest / name).mkdir(parents=True)
        for clip in sorted((video_folder / name).glob(f"{name[:3]}_*.mp4"))[:count]:
            shutil.copy2(clip, dest / name / clip.name)
    for name in ("broken.mp4", "silent.mp4"):
        shutil.copy2(video_folder / "rain" / name, dest / "rain" / name)
    return dest


def store_rows(data) -> dict[str, tuple]:
    """{video id: (class name, audio, visual features)} of a feature store, whichever subset holds the video."""
    names = data.split.class_names
    return {video_id: (names[f.labels[row]], f.audio[row], f.visual[row]) for f in data.subsets.values()
            for row, video_id in enumerate(f.video_ids)}
