"""Helpers shared by the command-line entry points (never imported by library code)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def setup_logging(verbose: bool = False) -> None:
    """avzsl's own messages at INFO (DEBUG with -v); other libraries' only from WARNING up (open_clip and
    laion_clap log every model build at INFO on the root logger)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("avzsl").setLevel(logging.DEBUG if verbose else logging.INFO)
    quiet_hub_retries()


def quiet_hub_retries() -> None:
    """huggingface_hub warns at every retry of a failed request; avzsl reports the failure once, in one line.
    (Through its own setter: importing huggingface_hub resets its logger's level.)"""
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()


def pick_device(name: str | None):
    """`auto` (or None) = CUDA when present, else CPU: a torch.device."""
    import torch  # here, so that `--help` answers without importing torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine")
    return device


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
    add_offline_option(parser)


def add_offline_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline", action="store_true", default=None,
                        help="never touch the network: weights missing from the caches are an error instead of being "
                             "fetched from the Hugging Face hub on first use (same as HF_HUB_OFFLINE=1)")


FILE_OPTIONS = ("clip_weights", "clap_weights", "roberta_dir", "wavcaps_weights", "bert_dir")


def encoder_files(args: argparse.Namespace) -> dict:
    """The weight-file keyword arguments of `load_encoders` that the user gave, and `offline` if set."""
    return {k: getattr(args, k) for k in (*FILE_OPTIONS, "offline") if getattr(args, k, None) is not None}
