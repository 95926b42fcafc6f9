"""First page and first answer of `python app.py`, through a stand-in Hugging Face hub: empty cache and warm one.

    python benchmarks/first_answer.py                    # 1 round, the real-size CLAP file (about 4 minutes on 2 cores)
    python benchmarks/first_answer.py --rounds 3 --files /tmp/stand-in   # reuse built stand-in files
    python benchmarks/first_answer.py --rounds 2 --model-only            # and a warm start with the CLAP model alone
    python benchmarks/first_answer.py --small                            # the small CLAP file the tests use
    python benchmarks/first_answer.py --rounds 3 --encoders random       # no weight files: the imports only

The stand-in hub (tests/stand_in_hub.py) serves random weights in the real files' formats and sizes from
127.0.0.1: CLIP 605 MB and, built with `--real-size`, the CLAP checkpoint as laion_clap published it (1.9 GB:
the model and AdamW's state for every parameter; --small: 635 MB, the state of one tensor). The transfer itself
is far faster than from huggingface.co: the cold figure is what avzsl adds to the download. Each round starts
`python app.py` (real-weight mode, no flags) as a first-time user would:
- cold: empty HF_HOME; timed from start until the page answers GET / and until the first /classify
  answer (examples/bird.mp4, two labels), which waits for the fetch and the encoders;
- warm: the same HF_HOME again (the files are in the cache, nothing is fetched);
- model-only (--model-only): warm again, with `--clap-weights` naming the same CLAP weights saved without the
  optimizer state: the app's peak RSS should not grow by 5% or more when the file carries it;
- import: a bare `python -c "import torch, open_clip, transformers, av, gradio"`, the floor of any start that
  needs them; the page should come before them (target <= 0.6x), the first answer soon after (<= 1.25x).
The warm and model-only starts alternate their order from round to round. Printed per round and as medians:
seconds, ratios to the import of the same round, and the app's peak RSS until its first answer (sampled).
--encoders random: no hub and no cold start, random weights.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.stand_in_hub import StandInHub, read_manifest, user_environment  # noqa: E402
from tests.helpers import connect_app, free_port  # noqa: E402


HEAVY_IMPORT = "import torch, open_clip, transformers, av, gradio"


def bare_import(env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", HEAVY_IMPORT], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t0


def model_only(files: Path, out: Path) -> Path:
    """The stand-in CLAP checkpoint's weights alone ({"state_dict": ...}), as a lean export would hold them."""
    if not out.is_file():
        clap = read_manifest(files)["lukewys/laion_clap"]["630k-audioset-best.pt"]
        subprocess.run([sys.executable, "-c", "import sys, torch; state = torch.load(sys.argv[1], mmap=True, "
                        "weights_only=True)['state_dict']; torch.save({'state_dict': state}, sys.argv[2])",
                        clap, str(out)], check=True)
    return out


def _rss_kb(pid: int) -> int:
    return next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:"))


def first_answer(env: dict, *flags: str) -> tuple[float, float, float]:
    """(seconds to the first page, seconds to the first /classify answer, peak RSS in GB until that answer) of
    one `python app.py`. The peak is the largest RSS sampled every 50 ms until the answer arrives, not the
    process's VmHWM: the map warm-up starts once the first classification is done (it imports umap and numba)
    and would race with a VmHWM read made after the answer."""
    from gradio_client import handle_file

    port = free_port()
    t0 = time.perf_counter()
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--checkpoints", "/nonexistent", *flags],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, answered = [0], threading.Event()

    def sample():
        while not answered.wait(0.05):
            with contextlib.suppress(OSError, StopIteration):
                peak[0] = max(peak[0], _rss_kb(app.pid))

    threading.Thread(target=sample, daemon=True).start()
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
        answer = time.perf_counter() - t0
        answered.set()
        return page, answer, peak[0] / 1e6
    finally:
        answered.set()
        app.terminate()
        app.wait(timeout=60)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/first_answer.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--files", type=Path, help="folder of built stand-in files (built there if it has none)")
    p.add_argument("--small", action="store_true", help="build the small CLAP file (0.6 GB) instead of the real-size one")
    p.add_argument("--model-only", action="store_true",
                   help="also a warm start whose CLAP file holds the model alone (peak RSS side by side)")
    p.add_argument("--encoders", choices=("pretrained", "random"), default="pretrained")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="first-answer-"))
    files = args.files or work / "stand-in"
    real = args.encoders == "pretrained"
    if real and not (files / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "tests.stand_in_hub", "build", str(files),
                        *([] if args.small else ["--real-size"])], cwd=ROOT, check=True,
                       env=user_environment("http://unused", work))
    lean = model_only(files, work / "model-only.pt") if real and args.model_only else None
    hub = StandInHub(read_manifest(files)).start() if real else None
    print(f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"load {os.getloadavg()[0]:.2f} at start, encoders {args.encoders}", flush=True)
    clap_size = os.path.getsize(read_manifest(files)["lukewys/laion_clap"]["630k-audioset-best.pt"]) if real else 0
    print(f"CLAP file {clap_size / 1e9:.2f} GB" + (f", model only {lean.stat().st_size / 1e9:.2f} GB" if lean else ""))
    # per round: seconds (import) or (page, answer, peak GB)
    starts = {"import": [], "cold": [], "warm": [], "model-only": []}
    try:
        for r in range(args.rounds):
            env = user_environment(hub.url if hub else "http://unused", work / f"user-{r}")
            starts["import"].append(bare_import(env))
            if real:
                starts["cold"].append(first_answer(env))
            warm = [("warm", ("--encoders", args.encoders))]
            if lean:
                warm.insert(r % 2, ("model-only", ("--clap-weights", str(lean))))  # alternated
            for kind, flags in warm:
                starts[kind].append(first_answer(env, *flags))
            print(f"round {r + 1}: " + "; ".join(_describe(kind, runs[-1], starts["import"][-1])
                                                 for kind, runs in starts.items() if runs), flush=True)
    finally:
        if hub:
            hub.stop()
        shutil.rmtree(work, ignore_errors=True)  # the users' caches: 1.2 GB a round (and the files it built)
    medians = {kind: _median(runs) for kind, runs in starts.items() if runs}
    print("median: " + "; ".join(_describe(kind, m, medians["import"]) for kind, m in medians.items())
          + f"; load {os.getloadavg()[0]:.2f} at end")
    if lean:
        growth = [full[2] / alone[2] - 1 for full, alone in zip(starts["warm"], starts["model-only"])]
        print("peak RSS growth with the optimizer state in the file, per round: "
              + ", ".join(f"{100 * g:+.1f}%" for g in growth) + " (target < 5%)")
    return 0


def _median(runs: list):
    return statistics.median(runs) if not isinstance(runs[0], tuple) else tuple(map(statistics.median, zip(*runs)))


def _describe(kind: str, run, bare: float) -> str:
    if kind == "import":
        return f"bare import {run:.1f} s"
    page, answer, peak = run
    return (f"{kind} page {page:.1f} s ({page / bare:.2f}x), answer {answer:.1f} s ({answer / bare:.2f}x), "
            f"peak RSS {peak:.2f} GB")


if __name__ == "__main__":
    sys.exit(main())
