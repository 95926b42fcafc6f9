"""The avzsl web app: `python app.py`, then open http://127.0.0.1:7860.

    python app.py                           # real CLIP + CLAP weights, fetched on first start (about 1.2 GB)
    python app.py --offline                 # or HF_HUB_OFFLINE=1: never fetch (the page explains what is missing)
    python app.py --encoders random         # or AVZSL_ENCODERS=random: random weights, meaningless results, a test mode
    python app.py --checkpoints DIR --port 8000 --host 0.0.0.0

The port defaults to $GRADIO_SERVER_PORT, else 7860; the host to $GRADIO_SERVER_NAME, else 127.0.0.1.
Everything is in `app/` (page, maps, figures) over the prediction service in `avzsl/serving/service.py`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

from app.maps import MapMaker
from app.ui import build_demo, build_missing_weights_page, launch
from avzsl.cli import (add_encoder_options, add_threads_option, add_verbose_option, encoder_files, entry_point,
                       pick_threads, setup_logging)
from avzsl.encoders import WeightsNotFoundError
from avzsl.io import AvzslError, cache_dir
from avzsl.maps.projection import ProjectionCache
from avzsl.serving.service import create_service

log = logging.getLogger("avzsl.app")
FIRST_ANSWER_WAIT_S = 30  # the map warm-up starts after the first classification, or this long after the encoders


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python app.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_encoder_options(p, default=os.environ.get("AVZSL_ENCODERS") or "pretrained")  # env: AVZSL_ENCODERS=random
    p.add_argument("--checkpoints", default="checkpoints", help="folder of trained checkpoint bundles (default: checkpoints)")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860))
    p.add_argument("--device", default=None, help="torch device for the encoders and models (default: cpu)")
    p.add_argument("--concurrency", type=int, default=2, help="events run at once (classifications: up to 4, sharing the encoders in turns)")
    p.add_argument("--no-map-cache", action="store_true", help="keep embedding maps in memory only, not under the avzsl cache")
    p.add_argument("--no-warm-up", action="store_true", help="do not compile UMAP and prepare the first map at start-up")
    add_threads_option(p)
    add_verbose_option(p)
    args = p.parse_args(argv)
    args.encoders = args.encoders.strip().lower()
    if args.encoders not in ("pretrained", "random"):
        p.error(f"AVZSL_ENCODERS must be 'pretrained' or 'random', not {args.encoders!r}")
    return args


def create_app(args: argparse.Namespace):
    """The page for these arguments: the full app, or the page explaining how to get the weights.

    Nothing heavy happens here: the service only checks that the weight files exist or can be fetched
    (milliseconds); the encoders are fetched and loaded, and the maps prepared, by `warm_up` once the page
    is served (the page shows the fetch's progress).
    """
    try:
        service = create_service(args.encoders, args.checkpoints, device=args.device, **encoder_files(args))
    except WeightsNotFoundError as e:
        log.error("%s", e)
        return build_missing_weights_page(str(e), checkpoints_dir=args.checkpoints)
    maps = MapMaker(service, ProjectionCache(None if args.no_map_cache else cache_dir() / "maps"))
    return build_demo(service, maps=maps)


def warm_up(demo, args: argparse.Namespace, threads: int | None) -> None:
    """In the background, once the page is served: import torch (with the threads the machine can give it), load
    the encoders, then, after the first classification, compile UMAP and fit the first checkpoint's map
    (--no-warm-up: torch only)."""
    maps = getattr(demo, "maps", None)
    if maps is None:  # the missing-weights page
        return

    def run():
        if threads is not None:  # the rule of every entry point (avzsl/cli.py), applied once the page is up
            import torch

            torch.set_num_threads(threads)
        if args.no_warm_up:
            return
        try:
            maps.service.encoders  # noqa: B018 - fetches and loads them: the first classification need not wait
        except AvzslError as e:  # a failed fetch or a damaged file: one line here, the reason on the page
            log.error("%s", e)
            return
        # UMAP's compile (10-20 s of CPU) would slow the first classification on 2 cores: it waits for it
        maps.service.answered.wait(timeout=FIRST_ANSWER_WAIT_S)
        maps.warm_up_in_background()

    threading.Thread(target=run, name="avzsl-warm-up", daemon=True).start()


@entry_point
def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    logging.getLogger("app").setLevel(logging.getLogger("avzsl").level)  # the page's modules log as avzsl's do
    threads = pick_threads(args.threads)  # set where torch is imported: after the page
    demo = create_app(args)  # imports no torch: the page comes first
    launch(demo, host=args.host, port=args.port, concurrency=args.concurrency, prevent_thread_lock=True)
    warm_up(demo, args, threads)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
