"""Re-evaluate a checkpoint on the test set of a data set: `python -m avzsl.evaluate --help`.

    python -m avzsl.evaluate --checkpoint checkpoints/clipclap-ucf --data PATH [--json]
    python -m avzsl.evaluate --checkpoint DIR [--checkpoint DIR2 ...] --data PATH --report OUT

Applies the checkpoint's calibration γ (chosen on validation when it was trained); `--gamma` overrides it.
`--report OUT` writes OUT/report.html (one page that works offline: per-class accuracy, what unseen classes are
taken for, S/U/HM against γ and α, each modality and the training-free floor, and with several checkpoints
their comparison), OUT/report.json (the same numbers, also what `--json` prints) and OUT/figures/*.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from avzsl.cli import add_device_option, add_verbose_option, command_parser, entry_point, start

log = logging.getLogger("avzsl.evaluate")


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("avzsl.evaluate", __doc__)
    p.add_argument("--checkpoint", type=Path, required=True, action="append",
                   help="checkpoint folder written by avzsl.train (repeat it to compare several in one report)")
    p.add_argument("--data", type=Path, required=True, help="avzsl feature store or ClipClap release data set root")
    p.add_argument("--dataset", help="benchmark name when it cannot be detected from the path")
    p.add_argument("--gamma", type=float, help="calibration γ (default: the checkpoint's)")
    p.add_argument("--alpha", type=float, help="open-vocabulary blend weight α (default: the checkpoint's; 0 = the "
                                               "model alone)")
    add_device_option(p)
    p.add_argument("--json", action="store_true", help="print the metrics (with --report: the report's numbers) as JSON")
    p.add_argument("--report", type=Path, metavar="OUT", help="write the evaluation report into the folder OUT")
    p.add_argument("--no-png", action="store_true", help="with --report: the HTML page and JSON only, no PNGs")
    add_verbose_option(p)
    return p


@entry_point
def main(argv: list[str] | None = None) -> int:
    args, device = start(build_parser(), argv)
    if args.report or len(args.checkpoint) > 1:
        return report_main(args, device)
    import numpy as np
    import torch

    from avzsl.models.checkpoint import load_checkpoint
    from avzsl.report.results import open_fitting_data
    from avzsl.training.protocol import data_dims, evaluate

    checkpoint = load_checkpoint(args.checkpoint[0], device)
    data = open_fitting_data(checkpoint, args.data, args.dataset)
    calibration = checkpoint.config.calibration
    gamma = calibration.gamma if args.gamma is None else args.gamma
    alpha = calibration.alpha if args.alpha is None else args.alpha
    metrics = evaluate(checkpoint.model, data.stage(2), torch.from_numpy(data.text.embeddings).to(device),
                       np.array([gamma]), alpha=alpha, blend_scale=calibration.blend_scale, dims=data_dims(data))
    result = {"test": metrics.scores(), "gamma": gamma, "alpha": alpha,
              "checkpoint": str(args.checkpoint[0]), "data": str(args.data),
              "synthetic": data.provenance.synthetic}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(summary_line(data.name, gamma, alpha, result["test"], result["synthetic"]))
    return 0


def report_main(args, device) -> int:
    """Several checkpoints, or --report: the evaluation report (avzsl/report/)."""
    from avzsl.report.page import report_json, write_report
    from avzsl.report.results import build_reports

    reports = build_reports(args.checkpoint, args.data, dataset=args.dataset, gamma=args.gamma, alpha=args.alpha,
                            device=device)
    page = write_report(reports, args.report, data=str(args.data), png=not args.no_png) if args.report else None
    if args.json:
        print(json.dumps(report_json(reports, str(args.data)), indent=2))
        return 0
    for r in reports:
        print(f"{r.name}: {summary_line(r.dataset, r.gamma, r.alpha, r.metrics, r.synthetic)}")
    if page:
        print(f"report: {page}")
    return 0


def summary_line(dataset: str, gamma: float, alpha: float, test: dict, synthetic: bool) -> str:
    """UCF test (γ = 0.7000, α = 0.3): S 41.00  U 22.50  HM 29.05  ZSL 30.10, flagged when the data is SYNTHETIC."""
    blend = f", α = {alpha:g}" if alpha else ""
    return (f"{dataset} test (γ = {gamma:.4f}{blend}): S {test['S']:.2f}  U {test['U']:.2f}  HM {test['HM']:.2f}  "
            f"ZSL {test['ZSL']:.2f}" + ("  [SYNTHETIC data]" if synthetic else ""))


if __name__ == "__main__":
    sys.exit(main())
