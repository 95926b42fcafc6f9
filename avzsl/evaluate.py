"""Re-evaluate a checkpoint on the test set of a data set: `python -m avzsl.evaluate --help`.

    python -m avzsl.evaluate --checkpoint checkpoints/clipclap-ucf --data PATH [--json]

Applies the checkpoint's calibration γ (chosen on validation when it was trained); `--gamma` overrides it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from avzsl.cli import add_device_option, add_verbose_option, pick_device, setup_logging
from avzsl.checkpoint import check_data_fits, load_checkpoint
from avzsl.data.loading import open_data
from avzsl.io import AvzslError
from avzsl.training.protocol import data_dims, evaluate

log = logging.getLogger("avzsl.evaluate")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m avzsl.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint folder written by avzsl.train")
    p.add_argument("--data", type=Path, required=True, help="avzsl feature store or ClipClap release data set root")
    p.add_argument("--dataset", help="benchmark name when it cannot be detected from the path")
    p.add_argument("--gamma", type=float, help="calibration γ (default: the checkpoint's)")
    p.add_argument("--alpha", type=float, help="open-vocabulary blend weight α (default: the checkpoint's; 0 = the "
                                               "model alone)")
    add_device_option(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_verbose_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    device = pick_device(args.device)
    try:
        checkpoint = load_checkpoint(args.checkpoint, device)
        data = open_data(args.data, args.dataset, text_alignment=checkpoint.config.text_alignment)
        check_data_fits(checkpoint, data_dims(data))
        calibration = checkpoint.config.calibration
        gamma = calibration.gamma if args.gamma is None else args.gamma
        alpha = calibration.alpha if args.alpha is None else args.alpha
        metrics = evaluate(checkpoint.model, data.stage(2), torch.from_numpy(data.text.embeddings).to(device),
                           np.array([gamma]), alpha=alpha, blend_scale=calibration.blend_scale, dims=data_dims(data))
    except AvzslError as e:
        log.error("%s", e)
        return 2
    result = {"test": metrics.scores(), "gamma": gamma, "alpha": alpha,
              "checkpoint": str(args.checkpoint), "data": str(args.data),
              "synthetic": data.provenance.synthetic}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        t = result["test"]
        blend = f", α = {alpha:g}" if alpha else ""
        print(f"{data.name} test (γ = {gamma:.4f}{blend}): S {t['S']:.2f}  U {t['U']:.2f}  HM {t['HM']:.2f}  ZSL {t['ZSL']:.2f}"
              + ("  [SYNTHETIC data]" if result["synthetic"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
