"""CLAP's published checkpoint, read lean: its AdamW state should cost neither time nor memory.

    python benchmarks/lean_load.py                       # 3 rounds; files written once under /tmp/avzsl-lean-load
    python benchmarks/lean_load.py --rounds 5 --folder DIR

Two files of the same random-weight laion_clap model (tests/stand_in_hub.py's `clap_checkpoint`):
- real size: 630k-audioset-best.pt's structure, the state dict + AdamW's exp_avg and exp_avg_sq for every
  parameter + the scaler (about 1.9 GB, as published);
- model only: the same state dict alone (about 0.6 GB).
Each round runs, in fresh processes and alternating which file goes first, `state.load_state_dict` (the read)
and the whole `ClapTower.build` (read + build), each timed after the imports, with the process's peak RSS.
Both files are in the page cache after the first round, as on a machine that has read them once.
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
FILES = {"real size": "630k-audioset-best.pt", "model only": "model-only.pt"}
TIME_TARGET, RSS_TARGET = 1.2, 1.05


def write_files(folder: Path) -> None:
    """Both files, unless already there (writing 2.5 GB once is enough on a shared machine)."""
    if all((folder / name).is_file() for name in FILES.values()):
        return
    import torch

    from avzsl.encoders.clap import ClapTower, offline_tokenizer
    from tests.stand_in_hub import clap_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    model = ClapTower.build("HTSAT-tiny", "630k-audioset-best", None, offline_tokenizer(), seed=0,
                            device=torch.device("cpu")).model
    for label, name in FILES.items():
        checkpoint = clap_checkpoint(model, real_size=True, optimizer=label == "real size")
        torch.save(checkpoint, folder / f"{name}.part")
        (folder / f"{name}.part").rename(folder / name)
        del checkpoint


def child(step: str, path: Path) -> None:
    """One measurement in this process: prints {"seconds", "peak_rss_mb"} as JSON."""
    import torch

    from avzsl.encoders.clap import ClapTower, offline_tokenizer, _clap_module
    from avzsl.encoders.state import load_state_dict

    _clap_module()  # imports done before the clock starts
    began = time.perf_counter()
    if step == "load":
        load_state_dict(path)
    else:
        ClapTower.build("HTSAT-tiny", "630k-audioset-best", path, offline_tokenizer(), seed=0, device=torch.device("cpu"))
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(step: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", step, str(path)], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--folder", type=Path, default=Path("/tmp/avzsl-lean-load"), help="where the two files are kept")
    p.add_argument("--child", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    write_files(args.folder)
    sizes = {label: (args.folder / name).stat().st_size / 1e9 for label, name in FILES.items()}
    print("files: " + ", ".join(f"{label} {size:.2f} GB" for label, size in sizes.items()))
    results = {(step, label): [] for step in ("load", "build") for label in FILES}
    for round_ in range(args.rounds):
        order = list(FILES) if round_ % 2 == 0 else list(FILES)[::-1]
        for step in ("load", "build"):
            for label in order:
                results[step, label].append(measure(step, args.folder / FILES[label]))
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        print(f"round {round_ + 1}: " + "; ".join(
            f"{step} {label} {results[step, label][-1]['seconds']:.2f} s {results[step, label][-1]['peak_rss_mb']:.0f} MB"
            for step in ("load", "build") for label in FILES) + f" (load {load})")
    print("\nmedians               real size      model only     ratio (target)")
    for step in ("load", "build"):
        real, lean = results[step, "real size"], results[step, "model only"]
        ratios = [r["seconds"] / m["seconds"] for r, m in zip(real, lean)]
        rss = statistics.median(r["peak_rss_mb"] for r in real) / statistics.median(m["peak_rss_mb"] for m in lean)
        print(f"{step:6} time      {statistics.median(r['seconds'] for r in real):8.2f} s    "
              f"{statistics.median(m['seconds'] for m in lean):8.2f} s    {statistics.median(ratios):.2f}x (<= {TIME_TARGET})")
        print(f"{step:6} peak RSS  {statistics.median(r['peak_rss_mb'] for r in real):8.0f} MB   "
              f"{statistics.median(m['peak_rss_mb'] for m in lean):8.0f} MB   {rss:.3f}x (< {RSS_TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
