"""Names and helpers the app, CLI and browser tests share (the checkpoints themselves are session fixtures in
tests/conftest.py, built once per test session)."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MATCHING, OTHER_ENCODERS = "synthetic-512", "other-encoders"  # folders of the `app_checkpoints` fixture
COGE = "coge-synthetic-512"  # the folder of the `coge_checkpoints` fixture


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
    from avzsl.extraction import FAILED_REPORT

    x, y = read_store(a), read_store(b)
    assert x.split == y.split
    np.testing.assert_array_equal(x.text.embeddings, y.text.embeddings)
    for name in SAMPLE_SUBSETS:
        assert x.subsets[name].video_ids == y.subsets[name].video_ids
        np.testing.assert_array_equal(x.subsets[name].labels, y.subsets[name].labels)
        np.testing.assert_allclose(x.subsets[name].audio, y.subsets[name].audio, atol=1e-5)
        np.testing.assert_allclose(x.subsets[name].visual, y.subsets[name].visual, atol=1e-5)
    assert (a / FAILED_REPORT).read_text() == (b / FAILED_REPORT).read_text()
