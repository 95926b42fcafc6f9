"""First answer of `python app.py`, through a stand-in Hugging Face hub: with an empty cache and a warm one.

    python benchmarks/first_answer.py                    # 1 round (about 2 minutes on 2 cores)
    python benchmarks/first_answer.py --rounds 3 --files /tmp/stand-in   # reuse built stand-in files

The stand-in hub (tests/stand_in_hub.py) serves random weights in the real files' formats and sizes
(CLIP 605 MB, CLAP 635 MB without the real checkpoint's optimizer state, tokenizer files) from 127.0.0.1, so
the transfer itself is far faster than from huggingface.co: the cold figure is what avzsl adds to the
download. Each round starts `python app.py` (real-weight mode, no flags) as a first-time user would:
- cold: empty HF_HOME; timed from start until the page answers GET / and until the first /classify
  answer (examples/bird.mp4, two labels), which waits for the fetch and the encoders;
- warm: the same HF_HOME again (the files are in the cache, nothing is fetched).
Printed: medians, and cold / warm as a ratio to the warm start measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.stand_in_hub import StandInHub, read_manifest, user_environment  # noqa: E402
from tests.helpers import connect_app, free_port  # noqa: E402


def first_answer(env: dict) -> tuple[float, float]:
    """(seconds to the first page, seconds to the first /classify answer) of one `python app.py`."""
    from gradio_client import handle_file

    port = free_port()
    t0 = time.perf_counter()
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--checkpoints", "/nonexistent"], cwd=ROOT,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = None
        while page is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                page = time.perf_counter() - t0
            except OSError:
                if app.poll() is not None:
                    raise RuntimeError("the app exited before serving its page") from None
                time.sleep(0.1)
        client = connect_app(f"http://127.0.0.1:{port}/", app)
        client.predict(handle_file(str(ROOT / "examples" / "bird.mp4")), "bird chirping, car engine", api_name="/classify")
        return page, time.perf_counter() - t0
    finally:
        app.terminate()
        app.wait(timeout=60)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/first_answer.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--files", type=Path, help="folder of built stand-in files (built there if it has none)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="first-answer-"))
    files = args.files or work / "stand-in"
    if not (files / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "tests.stand_in_hub", "build", str(files)], cwd=ROOT, check=True,
                       env=user_environment("http://unused", work))
    hub = StandInHub(read_manifest(files)).start()
    print(f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"load {os.getloadavg()[0]:.2f} at start", flush=True)
    cold, warm = [], []
    try:
        for r in range(args.rounds):
            env = user_environment(hub.url, work / f"user-{r}")
            cold.append(first_answer(env))
            warm.append(first_answer(env))
            print(f"round {r + 1}: cold page {cold[-1][0]:.1f} s, answer {cold[-1][1]:.1f} s; "
                  f"warm page {warm[-1][0]:.1f} s, answer {warm[-1][1]:.1f} s", flush=True)
    finally:
        hub.stop()
    cold_answer = statistics.median(a for _, a in cold)
    warm_answer = statistics.median(a for _, a in warm)
    print(f"median first answer: cold {cold_answer:.1f} s ({cold_answer / warm_answer:.2f}x warm), warm {warm_answer:.1f} s "
          f"(1.00x); first page: cold {statistics.median(p for p, _ in cold):.1f} s, warm "
          f"{statistics.median(p for p, _ in warm):.1f} s; load {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
