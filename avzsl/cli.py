"""Helpers shared by the command-line entry points (never imported by library code)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path


def setup_logging(verbose: bool = False) -> None:
    """avzsl's own messages at INFO (DEBUG with -v); other libraries' only from WARNING up (open_clip and
    laion_clap log every model build at INFO on the root logger)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("avzsl").setLevel(logging.DEBUG if verbose else logging.INFO)


def pick_device(name: str | None):
    """`auto` (or None) = CUDA when present, else CPU: a torch.device."""
    import torch  # here, so that `--help` answers without importing torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine")
    return device


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch CPU threads (default: torch's, one per core, on an idle machine; 1 when the load "
                             "average is at least the number of cores, where threads of one process wait for each "
                             "other: see docs/benchmarks.md)")


def pick_threads(requested: int | None, load: float | None = None, cores: int | None = None) -> int | None:
    """Threads to give torch: `requested`, else 1 on a machine busy with other work, else None (torch's default).

    On shared cores a parallel region waits for its slowest thread, and a thread that the kernel has descheduled
    for another process's work holds up all of them: measured on 2 cores at load 6-9, a whole one-file predict
    took 1.7-1.9x a bare import with 2 threads and 1.05x with 1 (docs/benchmarks.md).
    """
    if requested is not None:
        if requested < 1:
            raise SystemExit(f"--threads must be at least 1, not {requested}")
        return requested
    cores = cores or os.cpu_count() or 1
    load = os.getloadavg()[0] if load is None else load
    return 1 if cores > 1 and load >= cores else None


def set_threads(requested: int | None) -> None:
    threads = pick_threads(requested)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def add_device_option(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    parser.add_argument("--device", default=default, help="auto | cpu | cuda | cuda:N (default: auto = CUDA when present)")


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def add_encoder_options(parser: argparse.ArgumentParser, default: str = "pretrained") -> None:
    """--encoders and the local weight files; read back with `encoder_files(args)`."""
    parser.add_argument("--encoders", choices=("pretrained", "random"), default=default,
                        help="pretrained weights (default), or random weights with the same architectures: "
                             "no downloads, meaningless results, for tests and smoke runs")
    parser.add_argument("--clip-weights", type=Path,
                        help="local open_clip weights file (else $AVZSL_CLIP_WEIGHTS, then the open_clip/HF cache)")
    parser.add_argument("--clap-weights", type=Path,
                        help="local laion_clap checkpoint, e.g. 630k-audioset-best.pt (else $AVZSL_CLAP_WEIGHTS, "
                             "then the cache)")
    parser.add_argument("--roberta-dir", type=Path,
                        help="local roberta-base folder (vocab.json, merges.txt) for CLAP's text tower "
                             "(else $AVZSL_ROBERTA_DIR, then the HF cache)")
    parser.add_argument("--wavcaps-weights", type=Path,
                        help="preset clipclap-release: local WavCaps HTSAT_BERT_zero_shot.pt (else "
                             "$AVZSL_WAVCAPS_WEIGHTS, then the avzsl cache)")
    parser.add_argument("--bert-dir", type=Path,
                        help="preset clipclap-release: local bert-base-uncased folder (vocab.txt) for WavCaps' text "
                             "tower (else $AVZSL_BERT_DIR, then the HF cache)")


FILE_OPTIONS = ("clip_weights", "clap_weights", "roberta_dir", "wavcaps_weights", "bert_dir")


def encoder_files(args: argparse.Namespace) -> dict:
    """The weight-file keyword arguments of `load_encoders` that the user gave."""
    return {k: getattr(args, k) for k in FILE_OPTIONS if getattr(args, k, None) is not None}
