"""Build an avzsl feature store from a folder of labelled videos: `python -m avzsl.extract --help`.

    # one folder per class; classes drawn into seen / validation-unseen / test-unseen with seed 0
    python -m avzsl.extract my_videos --out stores/my_videos --random-split 0
    # the benchmark's class split (and its per-video stage_*.csv lists when the folder has them)
    python -m avzsl.extract UCF101 --out stores/ucf --splits path/to/UCF/class-split --prompts ucf-activitynet
    # a CSV of (video file, class) instead of class folders
    python -m avzsl.extract clips --labels clips.csv --out stores/clips --random-split 1

    # large collections: the same command on Ray (a Ray on this machine's cores, or a cluster's), one
    # embedding worker per GPU (docs/cluster.md)
    python -m avzsl.extract VIDEOS --out STORE --random-split 0 --engine ray --address auto --gpus-per-worker 1

Each video gives the CLIP embedding of its middle frame and the CLAP embedding of its centred 10 s of
audio; the class names give prompt-ensembled CLIP and CLAP text embeddings. Run the same command again to
resume: finished videos are not redone (with either engine). Files that cannot be read are skipped and
listed in STORE/failed.csv. The store then trains with `python -m avzsl.train --data STORE`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

from avzsl.cli import (add_device_option, add_encoder_options, add_verbose_option, command_parser, encoder_files,
                       entry_point, start)

log = logging.getLogger("avzsl.extract")

def build_parser() -> argparse.ArgumentParser:
    from avzsl.encoders import DEFAULT_PRESET, FRAME_CONVENTIONS, PROMPT_SETS, list_presets
    from avzsl.extraction.plan import DEFAULT_CLASS_FRACTIONS
    from avzsl.extraction.worker import NO_AUDIO_POLICIES

    p = command_parser("avzsl.extract", __doc__)
    p.add_argument("videos", type=Path, help="folder of videos: one sub-folder per class, or see --labels")
    p.add_argument("--out", type=Path, required=True, help="feature store folder to write")
    p.add_argument("--labels", type=Path, help="CSV of (video file relative to VIDEOS, class) instead of class folders")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--splits", type=Path, metavar="DIR",
                       help="class split folder: all_class.txt and the six stage_*.txt lists (e.g. a benchmark's "
                            "class-split folder); its stage_*.csv per-video lists are used when present")
    split.add_argument("--random-split", type=int, metavar="SEED",
                       help="draw seen, validation-unseen and test-unseen classes with this seed")
    p.add_argument("--class-fractions", type=float, nargs=3, default=DEFAULT_CLASS_FRACTIONS,
                   metavar=("SEEN", "VAL_UNSEEN", "TEST_UNSEEN"),
                   help="class shares of --random-split (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the 90/10 video splits with --splits when it has no per-video lists (default 0)")
    p.add_argument("--dataset", help="data set name recorded in the store (default: the videos folder's name)")
    p.add_argument("--prompts", choices=sorted(PROMPT_SETS), default="free-text",
                   help="prompt templates of the class text embeddings (default: free-text)")
    p.add_argument("--encoders-preset", choices=list_presets(), default=DEFAULT_PRESET,
                   help=f"which encoders make the features (default {DEFAULT_PRESET}); clipclap-release puts your "
                        "videos in the feature space of the ClipClap release, to train on both")
    p.add_argument("--frames", choices=FRAME_CONVENTIONS,
                   help="how frames are fed to CLIP (default: the preset's own; the release used bgr, and "
                        "bgr-float255 for UCF)")
    p.add_argument("--no-audio", choices=NO_AUDIO_POLICIES, default="skip",
                   help="videos without sound: skip them (default) or embed 10 s of silence")
    p.add_argument("--batch-size", type=int, default=16, help="videos per encoder call (default 16)")
    p.add_argument("--chunk-size", type=int, default=256,
                   help="videos per work file: what an interruption can lose at most (default 256)")
    p.add_argument("--decode-workers", type=int, default=2, help="--engine local: threads decoding ahead (default 2)")
    p.add_argument("--retry-failed", action="store_true", help="try the videos that failed in earlier runs again")
    engine = p.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process, decoding in threads (default); ray: Ray Data, decoding in CPU "
                             "tasks and embedding in GPU (or CPU) workers, on this machine or a cluster")
    engine.add_argument("--address", metavar="ADDRESS",
                        help="--engine ray: the cluster to join: auto (the one `ray start` made here), HOST:PORT or "
                             "ray://HOST:10001 (default: start Ray on this machine's cores)")
    engine.add_argument("--workers", type=int, metavar="N",
                        help="--engine ray: embedding workers, each loading the encoders once (default: one per "
                             "GPU with --gpus-per-worker, else one)")
    engine.add_argument("--gpus-per-worker", type=float, default=0, metavar="G",
                        help="--engine ray: GPUs each embedding worker holds (default 0: embed on CPU)")
    p.add_argument("--keep-work", action="store_true", help="keep STORE/.extract after merging")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_encoder_options(p)
    add_device_option(p)
    add_verbose_option(p)
    return p


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, device = start(parser, argv)
    if args.splits is None and args.random_split is None:
        parser.error("choose the class split: --splits DIR or --random-split SEED")
    if args.engine == "local" and (args.address or args.workers or args.gpus_per_worker):
        parser.error("--address, --workers and --gpus-per-worker are options of --engine ray")
    from avzsl.data.store import is_store
    from avzsl.encoders import EncoderSpec, load_encoders
    from avzsl.extraction import (FAILED_REPORT, ExtractionSettings, extract_local, find_videos, merge_extraction,
                                  plan_from_split_folder, plan_random_split, work_dir)
    from avzsl.extraction.merge import made_by

    videos = find_videos(args.videos, args.labels)
    if args.splits is not None:
        plan = plan_from_split_folder(videos, args.splits, seed=args.seed)
    else:
        dataset = args.dataset or args.videos.resolve().name
        plan = plan_random_split(videos, args.random_split, dataset, tuple(args.class_fractions))
    spec = EncoderSpec(args.encoders_preset, args.frames, random=args.encoders == "random")
    settings = ExtractionSettings(args.prompts, args.no_audio)
    if is_store(args.out) and not (args.retry_failed and work_dir(args.out).is_dir()):
        if not args.retry_failed and made_by(args.out, plan, settings, spec):  # the same command, run again
            failed = args.out / FAILED_REPORT
            print(f"nothing to do: {args.out} is already the feature store of these videos and options"
                  + (f"; {failed} lists those that failed, --retry-failed tries them again" if failed.is_file() else ""))
            return 0
        hint = (" and none of its videos failed (nothing to retry)" if args.retry_failed else
                " made from other videos or options")
        log.error("%s is already a finished feature store%s; choose another --out or delete it", args.out, hint)
        return 2
    counts = Counter(v.subset for v in plan.assign())  # in subset order: assign sorts by subset
    log.info("%d classes, %d videos: %s", plan.split.num_classes, len(plan.videos),
             ", ".join(f"{name} {n}" for name, n in counts.items()))
    options = dict(batch_size=args.batch_size, chunk_size=args.chunk_size, retry_failed=args.retry_failed,
                   progress=not args.no_progress)
    if args.engine == "ray":
        from avzsl.extraction.ray_engine import extract_with_ray  # Ray is imported for this engine only

        extract_with_ray(args.out, args.videos, plan, settings, spec, encoder_files=encoder_files(args),
                         address=args.address, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                         **options)
    else:
        encoders = load_encoders(spec, device, **encoder_files(args))
        extract_local(args.out, args.videos, plan, settings, encoders, decode_workers=args.decode_workers,
                      **options)
    merge_extraction(args.out, keep_work=args.keep_work)
    print(f"feature store written to {args.out}; train on it with: python -m avzsl.train --data {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
