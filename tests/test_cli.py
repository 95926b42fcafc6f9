"""Options and behaviours every command-line tool shares: the thread rule, and Ctrl-C at any moment."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from avzsl.cli import pick_threads
from avzsl.io import AvzslError

ROOT = Path(__file__).resolve().parents[1]


def test_threads_follow_the_option_else_omp_num_threads_else_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})  # 3 cores allowed, of however many
    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))  # a busy machine changes nothing
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert pick_threads(None) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert pick_threads(None) == 2
    assert pick_threads(5) == 5  # the option wins
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # OpenMP's per-level list: the outer level
    assert pick_threads(None) == 4
    for bad in ("two", "0", "-1"):
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        with pytest.raises(AvzslError, match="OMP_NUM_THREADS|at least 1"):
            pick_threads(None)
    with pytest.raises(AvzslError, match="at least 1"):
        pick_threads(0)


@pytest.mark.parametrize("module, argv", [
    ("avzsl.train", ["--synthetic"]), ("avzsl.evaluate", ["--checkpoint", "c", "--data", "d"]),
    ("avzsl.predict", ["x.mp4", "--labels", "a"]), ("avzsl.extract", ["v", "--out", "o", "--random-split", "0"])])
def test_every_torch_command_takes_threads_and_sets_them_first(module, argv, caplog):
    """Each command reads --threads by the one rule before any work: a bad count is its first, one-line error."""
    import importlib

    main = importlib.import_module(module).main
    assert main([*argv, "--threads", "0"]) == 2
    assert "the number of threads must be at least 1, not 0" in caplog.text


def test_a_device_this_machine_lacks_is_bad_input(monkeypatch, caplog):
    import torch

    from avzsl.evaluate import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--checkpoint", "c", "--data", "d", "--device", "cuda"]) == 2
    assert "--device cuda: CUDA is not available on this machine" in caplog.text


# --- Ctrl-C -----------------------------------------------------------------------------------------------------

# A moment is the first line on stderr matching a pattern: `python -X importtime` prints a line as each module
# has been imported, so a module's line says how far the command got.
FIRST_HEAVY_IMPORT = r"\|\s+(numpy|torch|huggingface_hub)\b"  # main() has begun: the entry modules import them there
MID_TORCH = r"\|\s+torch\._C\b"  # torch's compiled core is in, the rest of torch (seconds) is still loading
COMMANDS = {  # module: (arguments, a moment inside its heavy imports, a moment in its work or None)
    "avzsl.evaluate": (["--checkpoint", "nowhere", "--data", "nowhere"], MID_TORCH, None),
    "avzsl.predict": (["x.mp4", "--labels", "a, b", "--encoders", "random"], MID_TORCH, None),
    "avzsl.train": (["--synthetic", "--out", "run", "--no-progress"], MID_TORCH, "training on SYNTHETIC data"),
    "avzsl.extract": (["videos", "--out", "store", "--random-split", "0", "--encoders", "random", "--no-progress"],
                      MID_TORCH, r"\d+ classes, \d+ videos"),
    "avzsl.download": (["--to", "models"], MID_TORCH, None),
    "avzsl.synthetic_media": (["clips", "--per-class", "40"], r"\|\s+av\.", None),
}


def interrupt(module: str, moment: str, cwd: Path) -> tuple[int, list[str]]:
    """Start `python -m module`, send it SIGINT at the first stderr line matching `moment`: (exit code, the
    stderr lines that are not import times)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-X", "importtime", "-m", module, *COMMANDS[module][0]], cwd=cwd,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines, reached = [], threading.Event()

    def read():
        for line in child.stderr:
            lines.append(line.rstrip("\n"))
            if re.search(moment, line):
                reached.set()
        reached.set()  # the command ended first: the asserts below say so

    threading.Thread(target=read, daemon=True).start()
    try:
        reached.wait(timeout=300)
        child.send_signal(signal.SIGINT)
        code = child.wait(timeout=120)
    finally:
        child.kill()
    child.stderr.close()
    return code, [line for line in lines if not line.startswith("import time:")]


CASES = [(module, moment) for module, (_, importing, working) in COMMANDS.items()
         for moment in (FIRST_HEAVY_IMPORT, importing, working) if moment]


@pytest.fixture(scope="module")
def interrupted(request, tmp_path_factory) -> dict:
    """{case: a future of `interrupt`'s answer} for the selected cases, run two children at a time: each child
    waits mostly on its own single-threaded imports, and its moment is a line it prints, not a time, so a second
    child beside it moves no moment. Each runs in its own folder; the extract cases read one shared folder of
    videos (through a link named `videos`)."""
    from concurrent.futures import ThreadPoolExecutor

    from avzsl.synthetic_media import write_labelled_folder

    chosen = {(item.callspec.params["module"], item.callspec.params["moment"]) for item in request.session.items
              if item.originalname == "test_ctrl_c_at_any_moment_is_exit_130_and_one_line"}
    selected = [case for case in CASES if case in chosen]
    videos = tmp_path_factory.mktemp("ctrl-c-videos") / "videos"
    if any(module == "avzsl.extract" for module, _ in selected):
        write_labelled_folder(videos, per_class=3)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ctrl-c")
    futures = {}
    for module, moment in selected:
        cwd = tmp_path_factory.mktemp("ctrl-c")
        if module == "avzsl.extract":
            (cwd / "videos").symlink_to(videos, target_is_directory=True)
        futures[module, moment] = pool.submit(interrupt, module, moment, cwd)
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)  # after a failure with -x: no new child starts


@pytest.mark.parametrize("module, moment", CASES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(CASES)])
def test_ctrl_c_at_any_moment_is_exit_130_and_one_line(module, moment, interrupted):
    code, lines = interrupted[module, moment].result()
    # 130, or death by SIGINT, which a shell reports as 130 too: CPython ends so after a KeyboardInterrupt that
    # crossed C code running Python (PyRun_String in an extension's start-up), even one the command caught.
    assert code in (130, -signal.SIGINT), lines[-30:]
    assert lines and "interrupted" in lines[-1], lines[-30:]
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in lines), lines[-30:]
