"""Training speed and memory on benchmark-sized SYNTHETIC data: `python benchmarks/train_speed.py`.

1. A full two-stage ClipClap run with the reference schedule (UCF: 20 stage-1 epochs of 300 batches of 64,
   stage 2 for best epoch + 1 epochs) on UCF-sized data (5,000 training videos, 48 classes in the
   cls benchmark) read from the release layout, as `python -m avzsl.train` runs it.
2. One stage-1 epoch (300 batches + validation) on VGGSound-sized data (70,351 training videos) read
   from an avzsl store, with the peak memory (RSS) of the process.

Each case runs in a child process so that its wall time and peak memory are its own.

`--step-anatomy [MODEL]` instead measures what one training step of MODEL (default AVCA) costs on UCF-sized data at
its recipe's batch size: its FLOPs (torch.utils.flop_counter), its dropout draws, its time with 1 and 2 threads
and the GFLOP/s that achieves, this machine's best matmul GFLOP/s and Bernoulli draws per second, and from those
the fastest that the recipe's stage 1 could run on 2 cores with the same arithmetic and the same random stream.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# As `python -m avzsl.train` does, before torch loads: OpenMP threads that spin wait for parked threads on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402


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


def best_seconds(function, repeats: int = 30) -> float:
    """The fastest of `repeats` calls: on a shared machine, the closest to the uncontended cost."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return min(times)


def step_anatomy(model_name: str, steps: int) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from avzsl.data.synthetic import SyntheticSpec, make_synthetic
    from avzsl.models.registry import get_recipe
    from avzsl.training.protocol import StageTrainer

    recipe = get_recipe(model_name, "UCF")
    schedule = recipe.training
    trainer = StageTrainer(recipe, make_synthetic(SyntheticSpec(benchmark="UCF", scale=1.0, seed=0)), 1,
                           torch.device("cpu"), progress=False)
    model, optimizer, _ = trainer.new_model()
    draws = []  # elements of every dropout mask drawn in train mode (one Bernoulli draw each)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.register_forward_hook(lambda m, inputs, out: draws.append(out.numel() if m.training and m.p else 0))
    trainer.training = dataclasses.replace(schedule, batches_per_epoch=1)
    trainer.train_epoch(model, optimizer, 0)
    draws.clear()
    with FlopCounterMode(display=False) as counter:
        trainer.train_epoch(model, optimizer, 0)
    flops, draws_per_step = counter.get_total_flops(), sum(draws)
    print(f"{model_name}, one step of {schedule.batch_size}: {flops / 1e9:.2f} GFLOP "
          f"({', '.join(f'{op} {n / 1e9:.2f}' for op, n in counter.get_flop_counts()['Global'].items())}), "
          f"{draws_per_step / 1e6:.2f} M dropout draws")
    trainer.training = dataclasses.replace(schedule, batches_per_epoch=steps)
    peak = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.train_epoch(model, optimizer, 0)
        wall, cpu = (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps
        a, b = torch.randn(schedule.batch_size, 1536), torch.randn(1536, 512)
        peak[threads] = 2 * a.shape[0] * 1536 * 512 / best_seconds(lambda: a @ b) / 1e9
        mask = torch.empty(schedule.batch_size, 512)
        draw_ns = best_seconds(lambda: mask.bernoulli_(0.8)) / mask.numel() * 1e9
        print(f"  {threads} thread(s): {wall * 1e3:.0f} ms a step wall, {cpu * 1e3:.0f} ms CPU (load {os.getloadavg()[0]:.1f}): "
              f"{flops / wall / 1e9:.1f} GFLOP/s; best matmul {schedule.batch_size}x1536x512 {peak[threads]:.0f} GFLOP/s; "
              f"Bernoulli draws {draw_ns:.1f} ns each (one thread whatever the setting)")
    stage_1 = schedule.epochs * schedule.batches_per_epoch
    floor = flops / (max(2 * peak[1], peak[2]) * 1e9) + draws_per_step * draw_ns * 1e-9
    print(f"  stage 1 = {stage_1} steps; at best (every FLOP at the best matmul rate of 2 threads, then the draws): "
          f"{floor * 1e3:.0f} ms a step, {stage_1 * floor / 60:.1f} min for stage 1 alone")


def run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="clipclap", help="model for the UCF-sized full run")
    p.add_argument("--skip-vggsound", action="store_true")
    p.add_argument("--step-anatomy", nargs="?", const="avca", metavar="MODEL",
                   help="only one step's FLOPs, draws and GFLOP/s of MODEL (default avca; see above)")
    p.add_argument("--steps", type=int, default=20, help="steps timed per thread count with --step-anatomy")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.step_anatomy:
        step_anatomy(args.step_anatomy, args.steps)
        return 0
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
