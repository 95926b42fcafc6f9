"""Rank free-text labels for a video, a sound file, a picture, or every file of a folder: `python -m avzsl.predict --help`.

    python -m avzsl.predict clip.mp4 --labels "dog barking, playing guitar, car engine"
    python -m avzsl.predict clip.mp4 --labels "..." --checkpoint checkpoints/clipclap-mystore --json
    python -m avzsl.predict long.mp4 --labels "..." --segments 8          # what happens when
    python -m avzsl.predict my_videos/ --labels "..." --csv ranked.csv    # a folder, recursively

Without --checkpoint the labels are ranked training-free by CLIP and CLAP similarities. `--encoders random`
runs the same architectures with random weights (no downloads; meaningless results, for testing).
A folder gives one row per file (top labels and confidences); a file that cannot be read gets a row with
the error and the run carries on. `--json` prints the whole result (JSON lines for a folder).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

from avzsl.cli import (add_device_option, add_encoder_options, add_verbose_option, command_parser, encoder_files,
                       entry_point, start)
from avzsl.io import AvzslError

log = logging.getLogger("avzsl.predict")

MEDIA_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts",
                  ".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma",
                  ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
TOP = 3  # labels per row of a folder's CSV


def build_parser() -> argparse.ArgumentParser:
    from avzsl.serving.service import MAX_SEGMENTS, MODALITIES  # not at the top: see cli.entry_point

    p = command_parser("avzsl.predict", __doc__)
    p.add_argument("path", type=Path, help="a video, sound file or picture; or a folder of them (searched recursively)")
    p.add_argument("--labels", required=True, help="labels separated by commas or newlines")
    p.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: training-free CLIP+CLAP ranking)")
    p.add_argument("--modality", choices=MODALITIES, default="both")
    p.add_argument("--gamma", type=float, help="calibration γ for seen labels (default: the checkpoint's)")
    p.add_argument("--alpha", type=float, help="open-vocabulary blend weight α in [0, 1] of the training-free "
                                               "CLIP/CLAP distances (default: the checkpoint's; 0 = the model alone)")
    p.add_argument("--segments", type=int, default=1, metavar="N",
                   help=f"rank N evenly spaced moments of the whole file (1-{MAX_SEGMENTS}; default 1: the middle)")
    p.add_argument("--csv", type=Path, metavar="OUT", help="for a folder: write one row per file to OUT.csv")
    add_encoder_options(p)
    add_device_option(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON (a folder: one JSON object per line)")
    add_verbose_option(p)
    return p


@entry_point
def main(argv: list[str] | None = None) -> int:
    args, device = start(build_parser(), argv)
    from avzsl.serving.service import TRAINING_FREE, create_service, parse_labels

    labels = parse_labels(args.labels)
    if args.path.is_dir():
        files = media_files(args.path)
    elif args.csv:
        raise AvzslError("--csv is for a folder of files; for one file use --json")
    service = create_service(args.encoders, None, device, **encoder_files(args))
    model = service.catalog.add(args.checkpoint) if args.checkpoint else TRAINING_FREE
    options = {"model": model, "modality": args.modality, "gamma": args.gamma, "alpha": args.alpha,
               "segments": args.segments}
    if args.path.is_dir():
        if model != TRAINING_FREE:
            service.checkpoint(model)  # a checkpoint that cannot be used fails once, before the loop
        return predict_folder(service, args.path, files, labels, options, args.csv, args.json)
    prediction = service.classify(args.path, labels, **options)
    if args.json:
        print(json.dumps(prediction.to_json(), indent=2))
    else:
        print_prediction(prediction)
    return 0


def media_files(folder: Path) -> list[Path]:
    """Every file under `folder` whose suffix is a media format FFmpeg or Pillow reads, in path order."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
    if not files:
        raise AvzslError(f"{folder} holds no video, sound or picture files ({', '.join(sorted(MEDIA_SUFFIXES)[:6])}, ...)")
    return files


def predict_folder(service, folder: Path, files: list[Path], labels: list[str], options: dict, csv_path: Path | None,
                   as_json: bool) -> int:
    """Classify every file; a failure is a row with the error, never the end of the run. Exit 0 if any succeeded."""
    from tqdm import tqdm

    rows, failures = [], 0
    for path in tqdm(files, unit="file", desc="classifying", disable=None):
        name = str(path.relative_to(folder))
        try:
            prediction = service.classify(path, labels, **options)
        except AvzslError as e:
            failures += 1
            rows.append({"file": name, "kind": "", "error": str(e)})
            if as_json:
                print(json.dumps({"file": name, "error": str(e)}), flush=True)
            continue
        row = {"file": name, "kind": prediction.kind, "error": ""}
        for i, score in enumerate(prediction.ranking[:TOP], 1):
            row[f"label_{i}"], row[f"confidence_{i}"] = score.label, round(score.confidence, 4)
        rows.append(row)
        if as_json:
            print(json.dumps({"file": name, **prediction.to_json()}), flush=True)
    if csv_path:
        write_csv(csv_path, rows)
    if not as_json and not csv_path:
        for row in rows:
            print(f"{row['file']}: " + (f"error: {row['error']}" if row["error"] else
                                        ", ".join(f"{row[f'label_{i}']} {100 * row[f'confidence_{i}']:.1f} %"
                                                  for i in range(1, TOP + 1) if f"label_{i}" in row)))
    log.info("%d of %d files classified%s", len(files) - failures, len(files), f", written to {csv_path}" if csv_path else "")
    return 0 if failures < len(files) else 2


def write_csv(path: Path, rows: list[dict]) -> None:
    from avzsl.io import atomic_write

    columns = ["file", "kind", *[f"{k}_{i}" for i in range(1, TOP + 1) for k in ("label", "confidence")], "error"]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def print_prediction(prediction) -> None:
    from avzsl.serving.result import clock

    for warning in prediction.warnings:
        print(f"warning: {warning}")
    width = max(len(s.label) for s in prediction.ranking)
    for s in prediction.ranking:
        tag = "" if s.seen is None else ("  seen" if s.seen else "  unseen")
        print(f"{s.rank:3d}. {s.label:<{width}}  {100 * s.confidence:5.1f} %  distance {s.distance:.4f}{tag}")
    if len(prediction.segments) > 1:
        print("segments:")
        for seg in prediction.segments:
            best = seg.ranking[0]
            print(f"  {clock(seg.start_s)}-{clock(seg.end_s)}  {best.label} ({100 * best.confidence:.0f} %)")
    print("time: " + ", ".join(f"{k} {v:.0f} ms" for k, v in prediction.timings_ms.items()))


if __name__ == "__main__":
    sys.exit(main())
