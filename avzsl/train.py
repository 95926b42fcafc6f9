"""Train a model with the two-stage GZSL protocol: `python -m avzsl.train --help`.

    python -m avzsl.train --model clipclap --data PATH --dataset UCF --out checkpoints/clipclap-ucf
    python -m avzsl.train --model avca --synthetic          # a small SYNTHETIC data set, about a minute

PATH is an avzsl feature store (`python -m avzsl.extract`) or a ClipClap release data set root.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

# Read by OpenMP as torch loads. A training step is ~100 small kernels: with spinning threads, each waits for a
# thread the OS parked for other work: 14-28x slower at load 11 on 2 cores (docs/benchmarks.md, "Training speed").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from avzsl.cli import add_device_option, add_verbose_option, command_parser, entry_point, start
from avzsl.io import AvzslError

log = logging.getLogger("avzsl.train")

# --synthetic: small enough to finish in about a minute on 2 CPU cores, large enough to show transfer.
SYNTHETIC_SCALE = 0.2
SYNTHETIC_SCHEDULE = {"epochs": 6, "batches_per_epoch": 100}


def build_parser() -> argparse.ArgumentParser:
    from avzsl.data.features import TEXT_ALIGNMENTS
    from avzsl.data.splits import BENCHMARKS
    from avzsl.models.registry import list_models

    p = command_parser("avzsl.train", __doc__)
    p.add_argument("--model", choices=list_models(), default="clipclap")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, action="append",
                        help="avzsl feature store or ClipClap release data set root; repeat it to train on several "
                             "of one feature space together (e.g. the release and your videos extracted with "
                             "--encoders-preset clipclap-release); --dataset then names the first")
    source.add_argument("--synthetic", action="store_true",
                        help="train on a small generated SYNTHETIC data set (real UCF class split, fake features)")
    p.add_argument("--dataset", choices=BENCHMARKS, help="benchmark the data belongs to (default: detected); "
                   "selects the reference's per-benchmark hyper-parameters")
    p.add_argument("--out", type=Path, help="output folder (default: checkpoints/<model>-<dataset>-<time>)")
    p.add_argument("--epochs", type=int, help="stage-1 epochs (default: the reference's)")
    p.add_argument("--batches-per-epoch", type=int, help="batches per epoch (default: the reference's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the reference's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the reference's)")
    p.add_argument("--seed", type=int, help="random seed (default 42)")
    add_device_option(p)
    p.add_argument("--blend", action="store_true",
                   help="beyond the papers: also choose on validation an open-vocabulary blend weight α of the "
                        "training-free CLIP/CLAP distances (with its own γ); stored in the checkpoint and used by "
                        "evaluate, predict and the app. The model and its α = 0 numbers are unchanged")
    p.add_argument("--text-alignment", choices=TEXT_ALIGNMENTS, default="by-name",
                   help="release data only: match class text to classes by name (correct) or in the "
                        "reference implementations' sorted-keys order (reproduces the published numbers)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_verbose_option(p)
    return p


@entry_point(interrupted="interrupted: run the same command again to resume from the last finished epoch")
def main(argv: list[str] | None = None) -> int:
    args, device = start(build_parser(), argv)
    from avzsl.data.combine import combine
    from avzsl.data.loading import open_data
    from avzsl.data.synthetic import ENCODER_DIMS, SyntheticSpec, make_synthetic
    from avzsl.models.checkpoint import load_checkpoint
    from avzsl.models.registry import get_recipe
    from avzsl.report.results import build_report, save_report
    from avzsl.training.protocol import data_dims
    from avzsl.training.run import train

    overrides = {k: v for k, v in {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
                                   "seed": args.seed, "batches_per_epoch": args.batches_per_epoch,
                                   "blend": args.blend or None}.items() if v is not None}
    try:
        if args.synthetic:
            log.warning("training on SYNTHETIC data: the numbers show the pipeline works, nothing about real videos")
            # avzsl's encoder sizes, not the release's 1024-d CLAP: the demo checkpoint then loads in the app.
            data = make_synthetic(SyntheticSpec(scale=SYNTHETIC_SCALE, seed=overrides.get("seed", 0), **ENCODER_DIMS))
            overrides = {**SYNTHETIC_SCHEDULE, **overrides}
        else:
            first, *more = args.data
            data = combine([open_data(first, args.dataset, text_alignment=args.text_alignment),
                            *(open_data(path, text_alignment=args.text_alignment) for path in more)])
        recipe = get_recipe(args.model, args.dataset or data.name, training_overrides=overrides)
        out = args.out or Path("checkpoints") / f"{args.model}-{data.name.lower()}{'-synthetic' if args.synthetic else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
        log.info("%s on %s (%s): %s; writing to %s", args.model, data.name,
                 "SYNTHETIC" if data.provenance.synthetic else "real features", data_dims(data).describe(), out)
        metrics = train(recipe, data, out, device=device, progress=not args.no_progress, overwrite=args.overwrite)
        # The evaluation report on the test split, stored for the app's Explore tab (which has no data set).
        save_report(out, build_report(load_checkpoint(out, device), data))
    except ValueError as e:  # a recipe's invalid training settings: bad input, as an AvzslError is
        raise AvzslError(str(e)) from None
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
