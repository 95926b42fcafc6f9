"""Every command of README.md's bash blocks, run as a user would, in README order, so the README cannot rot.

The commands run in a fresh folder (outputs such as checkpoints/, stores/, models/ land there) in the
environment of a first-time user (tests/stand_in_hub.py: empty caches, online, HF_ENDPOINT at a stand-in hub
on 127.0.0.1 serving random weights in the real files' formats). Those that fetch weights (the app, avzsl.download)
run as child processes, since huggingface_hub reads its cache and endpoint variables once, at import; the other
`python -m avzsl.X ARGS` run as `main(ARGS)` in this process, as they would in a child (same folder and
variables): seconds of imports and random-weight encoders are paid once instead of once per command.
`python -m` reaching each main is tested by tests/test_cli.py, which runs every command as a child process. What a user would supply is made there:
`data/UCF` is a SYNTHETIC data set in the ClipClap release layout, `my_videos/` four class folders of the
repository's SYNTHETIC example clips (and `labels.csv` listing them), `my_video.mp4` one of those clips.

`rules` says how each command is run. The substitutions, and why:
- weights: `python app.py` and `avzsl.download` fetch from the stand-in hub, as on a connected machine;
  predict, extract and the app with the release checkpoint get `--encoders random` (the release's WavCaps
  checkpoint is not on any hub, and real-format loads are covered by tests/test_fetch.py).
- training: `--epochs 1 --batches-per-epoch 3` (the reference schedules take minutes to an hour);
  evaluation, and the SYNTHETIC demo videos' generator, run as written.
- the app: started with $GRADIO_SERVER_PORT set to a free port, asked one /classify, then stopped; it runs beside
  the commands after it, as in a second terminal (one app at a time there: the next starts when the one before
  was stopped), so its start-up overlaps their work.
- `export VAR=PATH`: the path must exist once the commands before it ran (the WavCaps file excepted: it is
  downloaded by hand).
Not run: `pip install` (it installs from PyPI; this suite runs in the installed environment) and
`python -m pytest -q` (this suite itself). A README command that matches no rule fails the test.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.stand_in_hub import StandInHub, user_environment
from tests.helpers import assert_same_store, connect_app, free_port

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["--epochs", "1", "--batches-per-epoch", "3", "--no-progress", "--device", "cpu"]
RANDOM = ["--encoders", "random"]
NOT_RUN = {
    "pip": "installs packages from PyPI (network); the suite runs in the installed environment",
    "pytest": "the test suite itself, which runs this test",
}


def readme_commands(text: str) -> list[tuple[dict, list[str]]]:
    """(environment prefix, argv) of every command in the bash blocks, in order, each once: continuation
    lines joined, comments dropped, `a && b` split."""
    commands, seen = [], set()
    for block in re.findall(r"^\s*```bash\n(.*?)^\s*```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line, comments=True)
            while tokens:
                part = tokens[: tokens.index("&&")] if "&&" in tokens else tokens
                tokens = tokens[len(part) + 1:]
                env = {}
                while part and re.fullmatch(r"[A-Z_]+=\S*", part[0]) and len(part) > 1:
                    key, value = part.pop(0).split("=", 1)
                    env[key] = value
                key = shlex.join([f"{k}={v}" for k, v in env.items()] + part)
                if part and key not in seen:
                    seen.add(key)
                    commands.append((env, part))
    return commands


def rule(argv: list[str]) -> str:
    """How a README command is run: 'skip:<reason>', 'run', 'train', 'random', 'hub', 'serve', 'export'."""
    if argv[0] == "pip":
        return "skip:" + NOT_RUN["pip"]
    if argv[:3] == ["python", "-m", "pytest"]:
        return "skip:" + NOT_RUN["pytest"]
    if argv[:3] == ["python", "-m", "avzsl.train"]:
        return "train"
    if argv[:3] in (["python", "-m", "avzsl.evaluate"], ["python", "-m", "avzsl.synthetic_media"]):
        return "run"
    if argv[:3] in (["python", "-m", "avzsl.extract"], ["python", "-m", "avzsl.predict"]):
        return "random"
    if argv[:3] == ["python", "-m", "avzsl.download"]:
        return "hub"
    if argv[:2] == ["python", "app.py"]:
        return "serve"
    if argv[0] == "export" and len(argv) == 2:
        return "export"
    raise AssertionError(f"README command {shlex.join(argv)!r} has no rule in tests/test_readme.py: add one")


def test_every_readme_command_has_a_rule():
    commands = readme_commands((ROOT / "README.md").read_text())
    kinds = {rule(argv) for _, argv in commands}
    assert {"train", "run", "random", "hub", "serve", "export"} <= kinds  # the parser found the blocks
    assert any(argv[:2] == ["python", "app.py"] and not env for env, argv in commands)  # the run command


def user_folder(root: Path) -> Path:
    """A folder with what README's commands expect a user to have: the release layout, videos, a clip."""
    from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release

    folder = root / "user"
    folder.mkdir()
    for name in ("app.py", "app", "examples"):
        (folder / name).symlink_to(ROOT / name)
    write_release(make_synthetic(SyntheticSpec(scale=0.05)), folder / "data" / "UCF")
    rows = ["video,class"]
    for clip in ("bird", "car", "drums", "piano"):  # the example clips with sound
        (folder / "my_videos" / clip).mkdir(parents=True)
        for i in range(3):
            shutil.copy(ROOT / "examples" / f"{clip}.mp4", folder / "my_videos" / clip / f"{clip}-{i}.mp4")
            rows.append(f"{clip}/{clip}-{i}.mp4,{clip}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    shutil.copy(ROOT / "examples" / "bird.mp4", folder / "my_video.mp4")
    return folder


@pytest.mark.slow
def test_readme_commands_run(hub_files, tmp_path, monkeypatch, caplog):
    hub = StandInHub(hub_files).start()
    env = user_environment(hub.url, tmp_path)
    folder = user_folder(tmp_path)
    ran, skipped, served = [], [], []
    # One app at a time, as in a second terminal (where each takes port 7860): this process runs the commands on
    # one core while the second terminal's app starts on the other, instead of three apps crowding both.
    apps = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readme-app")
    ray_was_running = ray_running()
    try:
        for prefix, argv in readme_commands((ROOT / "README.md").read_text()):
            how = rule(argv)
            if how.startswith("skip:"):
                skipped.append(argv[0])
                continue
            if how == "export":
                name, value = argv[1].split("=", 1)
                path = Path(value.replace("$PWD", str(folder)))
                assert path.exists() or name == "AVZSL_WAVCAPS_WEIGHTS", f"{argv[1]}: {path} does not exist"
            elif how == "serve":  # beside the commands that follow, in the second terminal: its start overlaps them
                random = prefix.get("AVZSL_ENCODERS") == "random" or "--checkpoints" in argv
                served.append(apps.submit(serve, argv + (RANDOM if "--checkpoints" in argv else []),
                                          {**env, **prefix}, folder, random))
            elif how == "hub":
                result = subprocess.run([sys.executable, *argv[1:]], cwd=folder, env={**env, **prefix},
                                        capture_output=True, text=True, timeout=600)
                wavcaps = "clipclap-release" in argv  # the hand-downloaded file is missing
                assert result.returncode == (1 if wavcaps else 0), f"{shlex.join(argv)}:\n{result.stderr[-3000:]}"
            else:
                extra = {"train": SHORT, "random": RANDOM, "run": []}[how]
                # One torch thread: this process's OpenMP started without the PASSIVE wait policy that
                # `python -m avzsl.train` sets before torch loads, and two spinning threads crawl on a busy machine.
                code = run_here(argv + extra, {**env, **prefix, "OMP_NUM_THREADS": "1"}, folder, monkeypatch)
                assert code == 0, f"{shlex.join(argv)}:\n{caplog.text[-3000:]}"
            ran.append(argv)
        for app in served:
            app.result()  # its /classify answered as README says
    finally:
        apps.shutdown(wait=True)
        hub.stop()
        if ray_running() and not ray_was_running:
            sys.modules["ray"].shutdown()  # `--engine ray` started Ray in this process; later tests need the cores
    assert sorted(set(skipped)) == ["pip", "python"]
    assert (folder / "checkpoints" / "clipclap-ucf" / "config.json").is_file()
    assert (folder / "stores" / "my_videos" / "store.json").is_file()
    assert (folder / "models" / "clip" / "open_clip_model.safetensors").is_file()
    assert_same_store(folder / "stores" / "demo-local", folder / "stores" / "demo-ray")  # as README says
    assert len(ran) >= 15


def run_here(argv: list[str], env: dict, folder: Path, monkeypatch) -> int:
    """`python -m avzsl.X ARGS` as its `main(ARGS)` in this process, with `env` as the whole environment and
    `folder` as the working directory; the exit code. This process's torch threads are kept."""
    import torch

    main = importlib.import_module(argv[2]).main
    threads = torch.get_num_threads()
    with monkeypatch.context() as m:
        m.chdir(folder)
        for name in set(os.environ) - set(env):
            m.delenv(name)
        for name, value in env.items():
            m.setenv(name, value)
        try:
            return main(argv[3:])
        finally:
            torch.set_num_threads(threads)


def ray_running() -> bool:
    """Whether this process has joined or started Ray (importing nothing)."""
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def serve(argv: list[str], env: dict, folder: Path, random: bool) -> None:
    """Start the app as the README says, classify one clip through /classify, stop it."""
    from gradio_client import handle_file

    port = free_port()
    app = subprocess.Popen([sys.executable, *argv[1:]], cwd=folder, env={**env, "GRADIO_SERVER_PORT": str(port)},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = connect_app(f"http://127.0.0.1:{port}/", app, timeout=600)  # minutes when the machine is busy
        answer = client.predict(handle_file(str(folder / "my_video.mp4")), "bird chirping, car engine",
                                api_name="/classify")
        assert sorted(s["label"] for s in answer["ranking"]) == ["bird chirping", "car engine"]
        assert any("Random-weight" in w for w in answer["warnings"]) == random
    finally:
        app.terminate()
        app.communicate(timeout=60)
