"""How long the evaluation report takes on a VGGSound-sized test split (about 300 classes), next to plain evaluation.

    python benchmarks/report_speed.py                 # SYNTHETIC VGGSound split, a quarter of its videos
    python benchmarks/report_speed.py --scale 1.0     # all 12,232 test videos

A ClipClap checkpoint is trained for a few batches (its numbers do not matter, only their sizes), then:
  evaluate       protocol.evaluate at the checkpoint's γ: what `python -m avzsl.evaluate` computes (the baseline)
  numbers        report.results.build_report: per-class results, γ curve, modalities, training-free floor
  page           the figures and the HTML page (report.html + report.json)
  PNGs           every figure as a PNG (kaleido + Chromium, one browser start)
Ratios are to the baseline measured in the same run. The issue's target: a readable page built in seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=0.25, help="fraction of VGGSound's video counts (default 0.25)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of each step; the best is shown")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import torch  # here, so that --help answers at once

    from avzsl.models.checkpoint import load_checkpoint
    from avzsl.data.synthetic import ENCODER_DIMS, SyntheticSpec, make_synthetic
    from avzsl.models.registry import get_recipe
    from avzsl.report.page import all_figures, write_pngs, write_report
    from avzsl.report.results import build_report
    from avzsl.training.protocol import evaluate
    from avzsl.training.run import train

    data = make_synthetic(SyntheticSpec(benchmark="VGGSound", scale=args.scale, **ENCODER_DIMS))
    stage = data.stage(2)
    print(f"SYNTHETIC VGGSound: {len(stage.seen_classes)} seen + {len(stage.unseen_classes)} unseen test classes, "
          f"{len(stage.eval)} test videos; torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        recipe = get_recipe("clipclap", "VGGSound", training_overrides={"epochs": 1, "batches_per_epoch": 5})
        train(recipe, data, Path(tmp) / "ckpt", device=torch.device("cpu"), progress=False)
        checkpoint = load_checkpoint(Path(tmp) / "ckpt")
        text = torch.from_numpy(data.text.embeddings)
        gamma = checkpoint.config.calibration.gamma

        def best(step):
            times = []
            for _ in range(args.repeats):
                began = time.perf_counter()
                result = step()
                times.append(time.perf_counter() - began)
            return min(times), result

        baseline, _ = best(lambda: evaluate(checkpoint.model, stage, text, np.array([gamma])))
        numbers, report = best(lambda: build_report(checkpoint, data))
        page, _ = best(lambda: write_report([report], Path(tmp) / "out", png=False))
        pngs, written = best(lambda: write_pngs(all_figures([report]), Path(tmp) / "out" / "figures"))
        size = (Path(tmp) / "out" / "report.html").stat().st_size / 2**20
    print(f"{'step':<10}{'seconds':>9}{'× evaluate':>12}")
    for name, seconds in (("evaluate", baseline), ("numbers", numbers), ("page", page), ("PNGs", pngs)):
        print(f"{name:<10}{seconds:>9.2f}{seconds / baseline:>12.1f}")
    print(f"report.html {size:.1f} MiB (plotly.js inlined), {len(written)} PNGs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
