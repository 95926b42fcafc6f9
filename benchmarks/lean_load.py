"""The published CLAP and WavCaps checkpoints, read lean: their optimizer state should cost neither time nor memory.

    python benchmarks/lean_load.py                       # 3 rounds; files written once under /tmp/avzsl-lean-load
    python benchmarks/lean_load.py --rounds 5 --folder DIR --kinds wavcaps

For each kind, two files of the same random-weight model (tests/stand_in_hub.py):
- clap, real size: 630k-audioset-best.pt's structure, the state dict + AdamW's exp_avg and exp_avg_sq for
  every parameter + the scaler (about 1.9 GB, as published); model only: the same state dict alone (0.6 GB);
- wavcaps, real size: HTSAT_BERT_zero_shot.pt's structure, {"model", "optimizer" (Adam's state for every
  parameter), "config", "epoch"} (about 1.7 GB); model only: {"model"} alone (0.6 GB).
Each round runs, in fresh processes and alternating which file goes first, `state.load_state_dict` (the read)
and the whole tower build (read + build), each timed after the imports, with the process's peak RSS.
The files are in the page cache after the first round, as on a machine that has read them once.
Targets (issue 26, item 1): real size <= 1.2x model only in time; peak RSS less than 5% higher.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KINDS = {"clap": ("laion-clap", "630k-audioset-best.pt"), "wavcaps": ("clipclap-release", "HTSAT_BERT_zero_shot.pt")}
LABELS = ("real size", "model only")
TIME_TARGET, RSS_TARGET = 1.2, 1.05


def file_of(folder: Path, kind: str, label: str) -> Path:
    name = KINDS[kind][1]
    return folder / (name if label == "real size" else f"model-only-{name}")


def write_files(folder: Path, kind: str) -> None:
    """Both files of `kind`, unless already there (writing 2.5 GB once is enough on a shared machine)."""
    if all(file_of(folder, kind, label).is_file() for label in LABELS):
        return
    import torch

    from avzsl.encoders import get_preset
    from tests.stand_in_hub import clap_checkpoint, wavcaps_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    Tower = _tower(kind)
    model = Tower.build(get_preset(KINDS[kind][0]).audio, None, seed=0, device=torch.device("cpu")).model  # not kept
    for label in LABELS:
        make = clap_checkpoint if kind == "clap" else wavcaps_checkpoint
        checkpoint = make(model, real_size=True, optimizer=label == "real size")
        path = file_of(folder, kind, label)
        torch.save(checkpoint, path.with_name(path.name + ".part"))
        path.with_name(path.name + ".part").rename(path)
        del checkpoint


def _tower(kind: str):
    if kind == "clap":
        from avzsl.encoders.clap import ClapTower

        return ClapTower
    from avzsl.encoders.wavcaps import WavCapsTower

    return WavCapsTower


def child(kind: str, step: str, path: Path) -> None:
    """One measurement in this process: prints {"seconds", "peak_rss_mb"} as JSON."""
    import torch

    from avzsl.encoders import get_preset
    from avzsl.encoders.clap import _clap_module
    from avzsl.encoders.state import load_state_dict

    Tower = _tower(kind)
    audio = get_preset(KINDS[kind][0]).audio
    _clap_module()  # laion_clap's model code (both towers' HTS-AT), imported before the clock starts
    began = time.perf_counter()
    if step == "load":
        load_state_dict(path, drop=Tower.stale_keys)
    else:
        Tower.build(audio, path, seed=0, device=torch.device("cpu"))
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(kind: str, step: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, step, str(path)], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        raise SystemExit(f"{kind} {step} {path.name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(results: dict, steps: list, loads: list[str]) -> None:
    """Medians over the rounds so far: each step's time ratio (per round, then the median) and peak RSS ratio."""
    print(f"\nmedians (load averages {', '.join(loads)})   real size      model only     ratio (target)")
    for kind, step in steps:
        real, lean = results[kind, step, "real size"], results[kind, step, "model only"]
        ratios = [r["seconds"] / m["seconds"] for r, m in zip(real, lean)]
        rss = statistics.median(r["peak_rss_mb"] for r in real) / statistics.median(m["peak_rss_mb"] for m in lean)
        name = f"{kind} {step}"
        print(f"{name:14} time      {statistics.median(r['seconds'] for r in real):8.2f} s    "
              f"{statistics.median(m['seconds'] for m in lean):8.2f} s    {statistics.median(ratios):.2f}x (<= {TIME_TARGET})")
        print(f"{name:14} peak RSS  {statistics.median(r['peak_rss_mb'] for r in real):8.0f} MB   "
              f"{statistics.median(m['peak_rss_mb'] for m in lean):8.0f} MB   {rss:.3f}x (< {RSS_TARGET})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--kinds", nargs="+", choices=sorted(KINDS), default=sorted(KINDS))
    p.add_argument("--folder", type=Path, default=Path("/tmp/avzsl-lean-load"), help="where the files are kept")
    p.add_argument("--child", nargs=3, metavar=("KIND", "STEP", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]))
        return 0
    for kind in args.kinds:
        write_files(args.folder, kind)
        print(f"{kind} files: " + ", ".join(f"{label} {file_of(args.folder, kind, label).stat().st_size / 1e9:.2f} GB"
                                          for label in LABELS))
    steps = [(kind, step) for kind in args.kinds for step in ("load", "build")]
    results = {(kind, step, label): [] for kind, step in steps for label in LABELS}
    loads = []
    for round_ in range(args.rounds):
        order = LABELS if round_ % 2 == 0 else LABELS[::-1]
        for kind, step in steps:
            for label in order:
                results[kind, step, label].append(measure(kind, step, file_of(args.folder, kind, label)))
        with open("/proc/loadavg") as f:
            loads.append(f.read().split()[0])
        print(f"round {round_ + 1} (load {loads[-1]}): " + "; ".join(
            f"{kind} {step} {label} {results[kind, step, label][-1]['seconds']:.2f} s "
            f"{results[kind, step, label][-1]['peak_rss_mb']:.0f} MB" for kind, step in steps for label in LABELS), flush=True)
        summarise(results, steps, loads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
