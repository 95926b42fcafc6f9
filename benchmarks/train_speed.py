"""Training speed and memory on benchmark-sized SYNTHETIC data: `python benchmarks/train_speed.py`.

1. A full two-stage ClipClap run with the reference schedule (UCF: 20 stage-1 epochs of 300 batches of 64,
   stage 2 for best epoch + 1 epochs) on UCF-sized data (5,000 training videos, 48 classes in the
   cls benchmark) read from the release layout, as `python -m avzsl.train` runs it.
2. One stage-1 epoch (300 batches + validation) on VGGSound-sized data (70,351 training videos) read
   from an avzsl store, with the peak memory (RSS) of the process.

Each case runs in a child process so that its wall time and peak memory are its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def child_ucf(root: Path, out: Path, model: str) -> dict:
    from avzsl.data.loading import open_data
    from avzsl.models.registry import get_recipe
    from avzsl.training.run import train

    began = time.perf_counter()
    data = open_data(root)
    read = time.perf_counter() - began
    metrics = train(get_recipe(model, "UCF"), data, out, device=torch.device("cpu"), progress=False)
    history = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return {"read_s": read, "total_s": time.perf_counter() - began, "epochs": len(history),
            "train_s": sum(h["seconds"] for h in history), "metrics": metrics}


def child_vggsound(store: Path) -> dict:
    from avzsl.data.loading import open_data
    from avzsl.models.registry import get_recipe
    from avzsl.training.protocol import StageTrainer, evaluate

    import numpy as np

    began = time.perf_counter()
    data = open_data(store)
    read = time.perf_counter() - began
    recipe = get_recipe("clipclap", "VGGSound")
    trainer = StageTrainer(recipe, data, 1, torch.device("cpu"), progress=False)
    model, optimizer, _ = trainer.new_model()
    t0 = time.perf_counter()
    trainer.train_epoch(model, optimizer, 0)
    t1 = time.perf_counter()
    evaluate(model, trainer.stage_data, trainer.text, np.linspace(*recipe.training.gamma_grid[:2], 76))
    t2 = time.perf_counter()
    return {"read_s": read, "epoch_s": t1 - t0, "validation_s": t2 - t1, "train_videos": len(trainer.stage_data.train),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="clipclap", help="model for the UCF-sized full run")
    p.add_argument("--skip-vggsound", action="store_true")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, *paths = args.child
        result = child_ucf(Path(paths[0]), Path(paths[1]), paths[2]) if kind == "ucf" else child_vggsound(Path(paths[0]))
        print(json.dumps(result))
        return 0

    from avzsl.data.store import write_store
    from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ucf = make_synthetic(SyntheticSpec(benchmark="UCF", scale=1.0, seed=0))
        write_release(ucf, tmp / "UCF")
        n_train = len(ucf.stage(2).train)
        del ucf
        r = run_child("ucf", str(tmp / "UCF"), str(tmp / "run"), args.model)
        t = r["metrics"]["test"]
        print(f"UCF-sized {args.model}, full reference schedule ({n_train} stage-2 training videos, SYNTHETIC): "
              f"{r['total_s']:.1f} s wall ({r['epochs']} epochs, {r['train_s']:.1f} s in epochs, read {r['read_s']:.1f} s); "
              f"test S {t['S']:.2f} U {t['U']:.2f} HM {t['HM']:.2f} ZSL {t['ZSL']:.2f}")
        if not args.skip_vggsound:
            vgg = make_synthetic(SyntheticSpec(benchmark="VGGSound", scale=1.0, seed=0))
            write_store(tmp / "vggsound", vgg)
            del vgg
            r = run_child("vggsound", str(tmp / "vggsound"))
            print(f"VGGSound-sized stage-1 epoch ({r['train_videos']} training videos, SYNTHETIC): "
                  f"{r['epoch_s']:.1f} s training + {r['validation_s']:.1f} s validation, read {r['read_s']:.1f} s, "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
