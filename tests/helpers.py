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
    from avzsl.prediction import create_service

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
    from avzsl.projection import ProjectionCache

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
