"""avzsl's training against the papers' own code, on the same SYNTHETIC data: `python benchmarks/reference_speed.py`.

    git clone https://github.com/dkurzend/ClipClap-GZSL /tmp/ClipClap-GZSL
    pip install --target /tmp/refdeps configargparse tensorboard einops opt_einsum matplotlib
    python benchmarks/reference_speed.py --reference /tmp/ClipClap-GZSL --deps /tmp/refdeps

The official ClipClap code (`--reference`) and `python -m avzsl.train` train on one UCF-sized SYNTHETIC data set
in the ClipClap release layout, with the same batches (300 of 64 by default), model size and learning rate, in
alternated rounds: every round times one stage-1 epoch and one stage-2 epoch of each (training + the per-epoch
validation, which is what a user waits for between epochs), in wall seconds and in CPU seconds (every thread and
child process: on a shared machine the wall-clock ratio moves with the load, the CPU-time ratio much less). It prints
every round's ratios and the per-round medians. `--baseline PATH` adds another avzsl checkout (e.g. main before a
change) to the rounds, for any model.

Our repository holds none of the official code: it is copied to a temporary folder at run time, the edits it
needs on today's libraries are applied to that copy and listed in the output, and its epochs are timed by
wrapping its `train_step` and `val_step` from outside. Both run with OMP_WAIT_POLICY=PASSIVE unless
--omp-default: on a shared machine OpenMP's spinning threads otherwise dominate both, and the ratio would
measure the load rather than the code.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("configargparse", "tensorboard", "einops", "opt_einsum", "matplotlib", "yaml", "pandas", "h5py", "sklearn")
# The official run's command line for UCF (its README / commands.sh), as facts: lr 7e-5, both modalities and texts.
OFFICIAL_ARGS = ["--cfg", "config/clipclap.yaml", "--device", "cpu", "--dataset_name", "UCF", "--lr", "0.00007",
                 "--use_wavcaps_embeddings", "True", "--modality", "both", "--word_embeddings", "both"]
# Runs inside either contestant's process: times its epoch functions from outside, then runs its entry point
# unchanged. CPU seconds count every thread and every reaped child (the official DataLoader's 4 workers per epoch).
TIMER = """import json, resource, sys, time
mode, out = sys.argv[1:3]
def cpu():
    return sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))
def timed(function, part):
    def run(*args, **kwargs):
        wall, used = time.perf_counter(), cpu()
        result = function(*args, **kwargs)
        with open(out, "a") as f:
            f.write(json.dumps({"part": part, "wall": time.perf_counter() - wall, "cpu": cpu() - used}) + "\\n")
        return result
    return run
if mode == "official":
    code, deps = sys.argv[3:5]
    sys.path.insert(0, code)
    if deps:
        sys.path.append(deps)
    import runpy
    import src.train as official
    official.train_step, official.val_step = timed(official.train_step, "train"), timed(official.val_step, "val")
    sys.argv = ["main.py", *sys.argv[5:]]
    runpy.run_path("main.py", run_name="__main__")
else:
    import avzsl.train as cli  # first: it sets OMP_WAIT_POLICY before torch loads, as for a user
    from avzsl.training import protocol
    protocol.StageTrainer.train_epoch = timed(protocol.StageTrainer.train_epoch, "train")
    protocol.evaluate = timed(protocol.evaluate, "val")  # the per-epoch validation (the test goes through run.py)
    sys.exit(cli.main(sys.argv[3:]))
"""


def epoch_times(times: Path) -> list[dict]:
    """[{"wall": s, "cpu": s}] per epoch (its training + the validation after it), in order, from TIMER's records."""
    epochs = []
    for line in times.read_text().splitlines():
        record = json.loads(line)
        if record["part"] == "train":
            epochs.append({"wall": 0.0, "cpu": 0.0})
        epochs[-1]["wall"] += record["wall"]
        epochs[-1]["cpu"] += record["cpu"]
    return epochs


def compatible_copy(reference: Path, into: Path) -> list[str]:
    """Copy the official code (no .git, no WavCaps) and apply the edits today's libraries need; returns them."""
    shutil.copytree(reference, into, ignore=shutil.ignore_patterns(".git", "WavCaps", "logs", "*.png"))
    edits = []
    model_file = into / "src" / "clipclap_model.py"
    text = model_file.read_text()
    if "verbose=True" in text:  # torch >= 2.7: ReduceLROnPlateau no longer takes `verbose`
        model_file.write_text(text.replace(", verbose=True)", ")"))
        edits.append("src/clipclap_model.py: removed `verbose=True` from ReduceLROnPlateau(...) (gone in torch 2.7)")
    return edits


def missing_modules(deps: str) -> list[str]:
    sys.path.append(deps) if deps else None
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def official_epoch(code: Path, deps: str, data: Path, stage: int, batches: int, env: dict, logs: Path) -> dict:
    """One epoch of the official code's stage `stage`: {"wall": s, "cpu": s}."""
    times = logs / f"times-{time.monotonic_ns()}.jsonl"
    argv = [sys.executable, "-c", TIMER, "official", str(times), str(code), deps, *OFFICIAL_ARGS, "--root_dir", str(data),
            "--log_dir", str(logs), "--epochs", "1", "--n_batches", str(batches), "--run", f"stage-{stage}"]
    done = subprocess.run(argv, cwd=code, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not times.is_file():
        raise SystemExit(f"the official code failed (stage {stage}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return epoch_times(times)[0]


def avzsl_epochs(tree: Path, data: Path, model: str, batches: int, epochs: int, env: dict, out: Path) -> dict:
    """`python -m avzsl.train` from checkout `tree`: {"epochs": {stage: [{"wall", "cpu"} per epoch]}, "test": metrics}."""
    times = out.with_suffix(".jsonl")
    argv = [sys.executable, "-c", TIMER, "avzsl", str(times), "--model", model, "--data", str(data), "--dataset", "UCF",
            "--epochs", str(epochs), "--batches-per-epoch", str(batches), "--out", str(out), "--no-progress"]
    done = subprocess.run(argv, cwd=tree, env={**env, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"avzsl ({tree}) failed:\n{done.stderr[-3000:]}")
    stages = [json.loads(line)["stage"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    by_stage: dict[int, list[dict]] = {1: [], 2: []}
    for stage, epoch in zip(stages, epoch_times(times), strict=True):
        by_stage[stage].append(epoch)
    return {"epochs": by_stage, "test": json.loads((out / "metrics.json").read_text())["test"]}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").is_file() else "?"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", type=Path, help="a local clone of github.com/dkurzend/ClipClap-GZSL (ClipClap only)")
    p.add_argument("--deps", default="", help="a `pip install --target` folder with the official code's extra "
                   f"packages ({', '.join(NEEDED[:5])}), appended to its path")
    p.add_argument("--baseline", type=Path, help="another avzsl checkout to time in the same rounds")
    p.add_argument("--model", default="clipclap", help="avzsl model (the official code is ClipClap)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", type=int, default=300, help="batches per epoch (the reference's UCF: 300 of 64)")
    p.add_argument("--epochs", type=int, default=1, help="stage-1 epochs of each avzsl run (stage 2: best + 1)")
    p.add_argument("--omp-default", action="store_true", help="leave OMP_WAIT_POLICY as the environment has it")
    args = p.parse_args(argv)
    if args.reference is None and args.baseline is None:
        p.error("nothing to compare with: give --reference and/or --baseline")
    if args.reference is not None and args.model != "clipclap":
        p.error("the official code is ClipClap's; use --baseline for other models")
    env = dict(os.environ)
    if not args.omp_default:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if args.reference is not None:
        missing = missing_modules(args.deps)
        if missing:
            raise SystemExit(f"the official code needs {', '.join(missing)}: pip install --target DIR {' '.join(missing)} "
                             "and pass --deps DIR")

    import torch

    from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release

    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', 'unset')}, {args.batches} batches per epoch, load {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_release(make_synthetic(SyntheticSpec(benchmark="UCF", scale=1.0, seed=0)), tmp / "UCF")
        contestants = {"avzsl": ROOT}
        if args.baseline is not None:
            contestants["baseline"] = args.baseline.resolve()
        if args.reference is not None:
            code = tmp / "official"
            edits = compatible_copy(args.reference, code)
            print("official code: a temporary copy of", args.reference, "with these edits:")
            for edit in edits or ["(none)"]:
                print("  -", edit)
        ratios: dict[tuple[str, str], dict[int, list[float]]] = {}  # (contestant, "wall" | "cpu") -> stage -> ratios
        for round_ in range(args.rounds):
            epoch: dict[str, dict[int, dict]] = {}
            if args.reference is not None:
                epoch["official"] = {stage: official_epoch(code, args.deps, data, stage, args.batches, env, tmp / "logs")
                                     for stage in (1, 2)}
            for name, tree in contestants.items():
                run = avzsl_epochs(tree, data, args.model, args.batches, args.epochs, env, tmp / f"{name}-{round_}")
                epoch[name] = {stage: {clock: statistics.median(e[clock] for e in epochs) for clock in ("wall", "cpu")}
                               for stage, epochs in run["epochs"].items()}
                if round_ == 0:
                    print(f"  {name} test metrics (seeded, SYNTHETIC): {run['test']}")
            print(f"round {round_ + 1} (load {load()}), one epoch's wall / CPU seconds:")
            for name, stages in epoch.items():
                print(f"  {name}: " + ", ".join(f"stage {stage} {e['wall']:.2f} / {e['cpu']:.2f} s" for stage, e in stages.items()))
            for other in epoch:
                if other == "avzsl":
                    continue
                for stage in (1, 2):
                    for clock in ("wall", "cpu"):
                        ratio = epoch[other][stage][clock] / epoch["avzsl"][stage][clock]
                        ratios.setdefault((other, clock), {}).setdefault(stage, []).append(ratio)
                    print(f"  {other} / avzsl, stage-{stage} epoch: {ratios[other, 'wall'][stage][-1]:.2f}x wall, "
                          f"{ratios[other, 'cpu'][stage][-1]:.2f}x CPU")
        for (other, clock), by_stage in ratios.items():
            for stage, values in by_stage.items():
                print(f"{other} / avzsl, stage-{stage} epoch, {clock}, per-round median of {len(values)}: "
                      f"{statistics.median(values):.2f}x ({', '.join(f'{v:.2f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
