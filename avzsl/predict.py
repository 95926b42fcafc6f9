"""Rank free-text labels for a video: `python -m avzsl.predict --help`.

    python -m avzsl.predict clip.mp4 --labels "dog barking, playing guitar, car engine"
    python -m avzsl.predict clip.mp4 --labels "..." --checkpoint checkpoints/clipclap-mystore --json

Without --checkpoint the labels are ranked training-free by CLIP and CLAP similarities. `--encoders random`
runs the same architectures with random weights (no downloads; meaningless results, for testing).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from avzsl.cli import add_device_option, add_encoder_options, add_verbose_option, encoder_files, pick_device, setup_logging
from avzsl.io import AvzslError
from avzsl.prediction import MODALITIES, TRAINING_FREE, create_service, parse_labels

log = logging.getLogger("avzsl.predict")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m avzsl.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", type=Path, help="video file")
    p.add_argument("--labels", required=True, help="labels separated by commas or newlines")
    p.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: training-free CLIP+CLAP ranking)")
    p.add_argument("--modality", choices=MODALITIES, default="both")
    p.add_argument("--gamma", type=float, help="calibration γ for seen labels (default: the checkpoint's)")
    add_encoder_options(p)
    add_device_option(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_verbose_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        labels = parse_labels(args.labels)
        checkpoints_dir, model = (args.checkpoint.parent, args.checkpoint.name) if args.checkpoint else (Path("."), TRAINING_FREE)
        service = create_service(args.encoders, checkpoints_dir, pick_device(args.device), **encoder_files(args))
        prediction = service.classify(args.video, labels, model, args.modality, args.gamma)
    except AvzslError as e:
        log.error("%s", e)
        return 2
    if args.json:
        print(json.dumps(prediction.to_json(), indent=2))
        return 0
    for warning in prediction.warnings:
        print(f"warning: {warning}")
    width = max(len(s.label) for s in prediction.ranking)
    for s in prediction.ranking:
        tag = "" if s.seen is None else ("  seen" if s.seen else "  unseen")
        print(f"{s.rank:3d}. {s.label:<{width}}  {100 * s.confidence:5.1f} %  distance {s.distance:.4f}{tag}")
    print("time: " + ", ".join(f"{k} {v:.0f} ms" for k, v in prediction.timings_ms.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
