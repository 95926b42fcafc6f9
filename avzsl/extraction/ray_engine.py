"""The Ray Data extraction engine (`python -m avzsl.extract ... --engine ray`): whole benchmarks on many GPUs.

    the plan's pending videos (a file list)
      -> decode in CPU tasks: decode_video, the local engine's decode (middle frame + centred audio window)
      -> embed in an actor pool: each actor loads the encoders once (a GPU each with gpus_per_worker) and
         calls embed_videos, the local engine's embedding step (avzsl/media/featurize.py underneath)
      -> chunks written by this process as batches come back, by the local engine's write_chunks
      -> the merge: the same store the local engine writes (store.json + features.safetensors, failed.csv)

A rerun skips every video a chunk holds (whichever engine wrote it), so an interrupted run resumes. Ray
retries the tasks of a lost worker and restarts lost actors; a file that fails to decode is a failure
record, never an error. The videos folder must be readable at the same path on every node (a shared file
system); the store is written by this process only. Ray is imported here, and this module only when
`--engine ray` is chosen: nothing else in avzsl pays for it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import ray
import ray.data

from avzsl.encoders import EncoderSpec, load_encoders
from avzsl.extraction.plan import ExtractionPlan
from avzsl.extraction.worker import (ExtractionResult, ExtractionSettings, decode_video, embed_videos, start_work,
                                     write_chunks)
from avzsl.io import AvzslError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0  # a cluster that does not answer in this long is not there
RAY_CLIENT_PORT = 10001  # Ray Client's port, when a ray:// address names none
DECODE_TASK_MEMORY = 256 * 2**20  # bytes a decode task reserves


class RayConnectionError(AvzslError, ConnectionError):
    """No Ray cluster at the address given."""


def extract_with_ray(
    store: str | Path,
    videos_dir: str | Path,
    plan: ExtractionPlan,
    settings: ExtractionSettings,
    spec: EncoderSpec,
    *,
    encoder_files: dict | None = None,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float = 0,
    batch_size: int = 16,
    chunk_size: int = 256,
    retry_failed: bool = False,
    progress: bool = True,
) -> ExtractionResult:
    """Extract the videos that no earlier run finished on a Ray cluster (`address`: "auto", "HOST:PORT" or
    "ray://HOST:10001"; None: $RAY_ADDRESS, else a Ray started here on this machine's cores, or the one this
    process already joined). workers: embedding actors (default: one per GPU with gpus_per_worker, else one).
    encoder_files: the weight-file arguments of load_encoders, as paths every node can read."""
    began = time.perf_counter()
    address = address or os.environ.get("RAY_ADDRESS") or None  # Ray would join the environment's unchecked
    if address not in (None, "auto"):
        _check_answers(address)  # before any work: a wrong address is one clear error, at once
    # absolute paths: Ray's workers need not start in this folder
    encoder_files = dict(encoder_files or {})
    if "files" in encoder_files:
        encoder_files["files"] = encoder_files["files"].absolute()
    videos_dir = Path(videos_dir).resolve()
    # The work folder and the class text are made on this machine; the videos left to do go to the cluster.
    pending, skipped = start_work(store, plan, settings, load_encoders(spec, **encoder_files), retry_failed)
    if not pending:
        return write_chunks(store, plan, skipped, [], chunk_size=chunk_size, progress=False, began=began)

    _connect(address)
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its plan and per-run lines; our bar counts videos
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_fallback_to_arrow_object_ext_type = True  # MediaSegments travel as Python objects, quietly
    cluster = ray.cluster_resources()
    gpus = int(cluster.get("GPU", 0))
    if workers is None:
        workers = max(1, int(gpus // gpus_per_worker)) if gpus_per_worker else 1
    if gpus_per_worker * workers > gpus:
        raise AvzslError(f"{workers} workers with {gpus_per_worker:g} GPU each need {gpus_per_worker * workers:g} "
                         f"GPUs; the Ray cluster has {gpus}")
    # Without GPUs the actors embed on CPU: give them the cores that decoding leaves (one per worker at least),
    # so each runs torch on as many threads as it holds.
    cpus_per_worker = 1 if gpus_per_worker else max(1, (int(cluster.get("CPU", 1)) - 1) // workers)
    log.info("Ray cluster: %d CPUs, %d GPUs; %d embedding workers (%g GPU, %d CPU each)",
             int(cluster.get("CPU", 0)), gpus, workers, gpus_per_worker, cpus_per_worker)

    rows = [{"index": i, "path": str(videos_dir / v.path)} for i, v in enumerate(pending)]
    embedded = (
        ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // batch_size))
        # A decode task holds a batch of frames and 10 s windows (about 2.6 MB a video at 48 kHz). Other
        # resources than the actors' also keep Ray from fusing the two steps: decoding stays in CPU tasks.
        .map_batches(_decode_batch, fn_kwargs={"audio": spec.spec.audio}, batch_size=batch_size, num_cpus=1,
                     memory=DECODE_TASK_MEMORY)
        .map_batches(_Embedder, fn_constructor_kwargs={"spec": spec.to_dict(), "files": encoder_files,
                                                       "no_audio": settings.no_audio},
                     batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=workers),
                     num_gpus=gpus_per_worker, num_cpus=cpus_per_worker)
    )
    batches = (([pending[i] for i in batch["index"]], batch)
               for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"))
    return write_chunks(store, plan, skipped, batches, chunk_size=chunk_size, progress=progress, began=began,
                        desc="extract (ray)")


def _connect(address: str | None) -> None:
    """Ray, joined to the cluster at `address` (a HOST:PORT one checked first by _check_answers: Ray itself
    retries a dead address for minutes), or started here; a Ray this process already joined is used as it is."""
    if ray.is_initialized():
        return
    if address is None:
        # on loopback: a Ray of this machine alone needs no other address
        ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
                 _node_ip_address="127.0.0.1")
        return
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except ConnectionError as e:
        raise RayConnectionError(f"no Ray cluster at --address {address}: {e}") from e


def _check_answers(address: str) -> None:
    """Raise RayConnectionError unless something listens at a "HOST:PORT" or "ray://HOST[:PORT]" address."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port or (RAY_CLIENT_PORT if parts.scheme == "ray" else None)
    except ValueError:
        host = port = None
    if not host or not port:
        raise RayConnectionError(f"{address!r} (--address or RAY_ADDRESS) is not a Ray address: give auto, "
                                 f"HOST:PORT or ray://HOST:{RAY_CLIENT_PORT}")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise RayConnectionError(
            f"no Ray cluster answers at {address} ({e.strerror or e}); start one there with `ray start --head` "
            "(docs/cluster.md), or leave out --address and RAY_ADDRESS to run Ray on this machine"
        ) from e


def _decode_batch(batch: dict[str, np.ndarray], audio) -> dict[str, np.ndarray]:
    """A Ray task: decode a batch of files; a file that cannot be used gives its error instead."""
    media = np.empty(len(batch["path"]), dtype=object)  # MediaSegments, or the error (decode_video)
    media[:] = [decode_video(Path(path), audio) for path in batch["path"]]
    return {"index": batch["index"], "media": media}


class _Embedder:
    """A Ray actor: the encoders, loaded once, on the GPU Ray gave it (else the CPU)."""

    def __init__(self, spec: dict, files: dict, no_audio: str):
        device = "cuda" if ray.get_gpu_ids() else "cpu"
        self.encoders = load_encoders(EncoderSpec.from_dict(spec), device, **files)
        self.no_audio = no_audio

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """(B,) decoded files -> their index, audio (B, D_clap), visual (B, D_clip) and error (embed_videos)."""
        return {"index": batch["index"], **embed_videos(list(batch["media"]), self.encoders, self.no_audio)}
