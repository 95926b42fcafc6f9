"""Extracting a plan's videos on this machine, resumably; the parts every extraction engine shares.

Work lives in `<store>/.extract/` until the merge turns it into the store:

    plan.json                      the plan and the settings; a resumed run must agree with it
    text.safetensors               class text embeddings: `clip` (K_all, D_clip), `clap` (K_all, D_clap)
    chunks/chunk-00000.safetensors, ...
                                   `audio` (n, D_clap), `visual` (n, D_clip) float32 for the n videos in
                                   the metadata's `video_ids`, plus the `failed` videos and their errors

Each chunk is written whole (temporary name, then rename), so an interrupted run loses at most the chunk
it was filling, and a resumed run skips every video that any chunk holds, whichever engine wrote it (this
one, or the Ray engine of ray_engine.py). Both decode with `decode_video`, embed with `embed_videos`, which
go through the one featurize step (avzsl/media/featurize.py), and write with `write_chunks`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from tqdm.auto import tqdm

from avzsl import __version__
from avzsl.data.errors import DataError
from avzsl.io import atomic_save_tensors, atomic_write_json, read_json, strict_json
from avzsl.encoders import Encoders, EncoderSpec
from avzsl.extraction.plan import ExtractionPlan, PlannedVideo
from avzsl.media.featurize import decode, featurize
from avzsl.media import MediaError, MediaSegments, NotAVideoError

log = logging.getLogger(__name__)

WORK_DIR = ".extract"
PLAN_FILE = "plan.json"
CHUNKS_DIR = "chunks"
TEXT_FILE = "text.safetensors"
NO_AUDIO_POLICIES = ("skip", "silence")


@dataclass(frozen=True)
class ExtractionSettings:
    """What, besides the plan, decides the features; a resumed run must use the same."""

    prompt_set: str = "free-text"  # prompt templates of the class text embeddings
    no_audio: str = "skip"  # a video without sound: "skip" it (reported as failed) or embed "silence"

    def __post_init__(self):
        if self.no_audio not in NO_AUDIO_POLICIES:
            raise ValueError(f"no_audio must be one of {NO_AUDIO_POLICIES}, not {self.no_audio!r}")


@dataclass
class ExtractionResult:
    extracted: int  # videos extracted by this run
    failed: int  # videos that failed in this run
    skipped: int  # videos already done (or failed) in earlier runs
    seconds: float

    @property
    def videos_per_second(self) -> float:
        return self.extracted / self.seconds if self.seconds > 0 else float("nan")


def work_dir(store: str | Path) -> Path:
    return Path(store) / WORK_DIR


def work_record(plan: ExtractionPlan, settings: ExtractionSettings, spec: EncoderSpec) -> dict:
    """What an extraction is started with (its work folder's plan.json)."""
    return {"format": "avzsl-extraction", "avzsl_version": __version__,
            "settings": {**asdict(settings), "encoders": spec.to_dict()}, "plan": plan.to_dict()}


def fingerprint(record: dict) -> str:
    """What identifies an extraction, kept in the store it makes: a hash of its plan and settings."""
    return hashlib.sha256(strict_json([record["plan"], record["settings"]], sort_keys=True).encode()).hexdigest()


def start_work(store: str | Path, plan: ExtractionPlan, settings: ExtractionSettings, encoders: Encoders,
               retry_failed: bool = False) -> tuple[list[PlannedVideo], int]:
    """Create the work folder, or check that an existing one was started with the same plan and settings.
    Returns (the plan's videos that no earlier run finished, how many were finished); failed ones count as
    finished unless `retry_failed`."""
    work = work_dir(store)
    record = work_record(plan, settings, encoders.spec)
    path = work / PLAN_FILE
    if path.is_file():
        earlier = read_json(path, DataError, "extraction plan")
        for key in ("settings", "plan"):
            if earlier.get(key) != record[key]:
                raise DataError(
                    f"{store} holds an unfinished extraction started with different {key} "
                    f"({'videos, split or seed' if key == 'plan' else 'encoders, prompts or options'}). "
                    f"Resume it with the same arguments, or choose another --out."
                )
    else:
        atomic_write_json(path, record)
    if not (work / TEXT_FILE).is_file():
        # A second or so; same inputs, same result, and the rename is atomic.
        text = encoders.embed_labels(list(plan.split.prompt_names), settings.prompt_set)
        atomic_save_tensors(work / TEXT_FILE, {"clip": text.clip, "clap": text.clap})
    finished = finished_videos(work, retry_failed)
    pending = [v for v in plan.videos if v.video_id not in finished]
    skipped = len(plan.videos) - len(pending)
    if skipped:
        log.info("resuming: %d of the %d videos were finished by an earlier run", skipped, len(plan.videos))
    return pending, skipped


def read_work_record(store: str | Path) -> dict:
    path = work_dir(store) / PLAN_FILE
    if not path.is_file():
        raise DataError(f"{store} has no extraction in progress (no {WORK_DIR}/{PLAN_FILE})")
    return read_json(path, DataError, "extraction plan")


def chunk_files(work: Path) -> list[Path]:
    # */: chunks/ and the shard-I-of-N/ folders of unfinished extractions of avzsl 0.x
    return sorted(work.glob("*/chunk-*.safetensors"))


def read_chunk_index(path: Path) -> tuple[list[str], list[dict]]:
    """(extracted video ids, failed records) of a chunk, from its header only."""
    with safe_open(path, "np") as f:
        meta = f.metadata() or {}
    return json.loads(meta["video_ids"]), json.loads(meta["failed"])


def finished_videos(work: Path, retry_failed: bool = False) -> set[str]:
    """Ids of the videos that earlier runs finished: extracted, or failed (unless `retry_failed`)."""
    done: set[str] = set()
    failed: set[str] = set()
    for path in chunk_files(work):
        try:
            ids, failures = read_chunk_index(path)
        except Exception as e:  # noqa: BLE001 - an unreadable chunk is redone, not fatal
            log.warning("%s is unreadable (%s); its videos will be extracted again", path, e)
            path.rename(path.with_suffix(".unreadable"))
            continue
        done.update(ids)
        failed.update(f["video_id"] for f in failures)
    return done if retry_failed else done | failed


def extract_local(
    store: str | Path,
    videos_dir: str | Path,
    plan: ExtractionPlan,
    settings: ExtractionSettings,
    encoders: Encoders,
    *,
    batch_size: int = 16,
    chunk_size: int = 256,
    decode_workers: int = 2,
    retry_failed: bool = False,
    progress: bool = True,
) -> ExtractionResult:
    """Extract the videos that no earlier run finished, on this machine; failures are recorded and skipped."""
    began = time.perf_counter()
    pending, skipped = start_work(store, plan, settings, encoders, retry_failed)
    batches = ((videos, embed_videos(decoded, encoders, settings.no_audio))
               for videos, decoded in _decoded_batches(Path(videos_dir), pending, batch_size, decode_workers, encoders))
    return write_chunks(store, plan, skipped, batches, chunk_size=chunk_size, progress=progress, began=began)


def write_chunks(store: str | Path, plan: ExtractionPlan, skipped: int,
                 batches: Iterable[tuple[list[PlannedVideo], dict[str, np.ndarray]]], *, chunk_size: int,
                 progress: bool, began: float, desc: str = "extract") -> ExtractionResult:
    """Write (videos, their `embed_videos` rows) batches as chunks of at least `chunk_size` videos, with a
    progress bar over the whole plan; what every extraction engine ends with."""
    folder = work_dir(store) / CHUNKS_DIR
    existing = sorted(folder.glob("chunk-*.safetensors"))
    next_index = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
    buffered: list[tuple[list[PlannedVideo], dict[str, np.ndarray]]] = []  # the batches of the next chunk
    extracted = failed = 0

    def flush():
        nonlocal next_index, buffered
        if not buffered:
            return
        videos = [video for batch, _ in buffered for video in batch]
        errors = np.concatenate([embedded["error"] for _, embedded in buffered])
        ok = errors == ""
        # a chunk of failures only still holds (0, D) tensors: safetensors needs one
        tensors = {m: np.concatenate([embedded[m] for _, embedded in buffered])[ok] for m in ("audio", "visual")}
        metadata = {"video_ids": json.dumps([v.video_id for v, good in zip(videos, ok) if good]),
                    "failed": json.dumps([{"video_id": v.video_id, "path": v.path, "error": str(error)}
                                          for v, error in zip(videos, errors) if error])}
        atomic_save_tensors(folder / f"chunk-{next_index:05d}.safetensors", tensors, metadata)
        next_index += 1
        buffered = []

    bar = tqdm(total=len(plan.videos), initial=skipped, unit="video", desc=desc, disable=not progress,
               dynamic_ncols=True)
    try:
        for videos, embedded in batches:
            failures = [(video, error) for video, error in zip(videos, embedded["error"]) if error]
            for video, error in failures:
                log.warning("skipping %s: %s", video.path, error)
            extracted, failed = extracted + len(videos) - len(failures), failed + len(failures)
            buffered.append((videos, embedded))
            if sum(len(batch) for batch, _ in buffered) >= chunk_size:
                flush()
            bar.update(len(videos))
            bar.set_postfix(failed=failed, refresh=False)
    finally:
        flush()  # also on Ctrl-C: keep every finished video
        bar.close()
    result = ExtractionResult(extracted, failed, skipped, time.perf_counter() - began)
    log.info("%d videos extracted in %.1f s (%.2f videos/s), %d failed, %d done earlier", result.extracted,
             result.seconds, result.videos_per_second, result.failed, result.skipped)
    return result


def decode_video(path: Path, audio) -> MediaSegments | Exception:
    """The middle frame and centred audio window of a video (audio: the preset's audio description), or
    the error that says why the file cannot be used; a file without pictures is not a video here."""
    try:
        media = decode(path, audio)
        if media.kind != "video":
            raise NotAVideoError(f"{path} has no video stream")
        return media
    except (MediaError, OSError) as e:
        return e


def embed_videos(decoded: list[MediaSegments | Exception], encoders, no_audio: str) -> dict[str, np.ndarray]:
    """The rows of a batch of decoded videos, in its order: "audio" (B, D_clap) and "visual" (B, D_clip)
    float32 embeddings (zeros where a video failed) and "error" (B,), why it failed ("" where it did not).
    What every extraction engine writes."""
    errors = np.full(len(decoded), "", dtype=object)
    for i, media in enumerate(decoded):
        if isinstance(media, Exception):
            errors[i] = str(media)
        elif not media.has_audio and no_audio == "skip":
            errors[i] = f"{media.path}: no audio track (use --no-audio silence to keep such videos)"
    ok = np.flatnonzero(errors == "")
    audio = np.zeros((len(decoded), encoders.clap_dim), np.float32)  # (B, D_clap)
    visual = np.zeros((len(decoded), encoders.clip_dim), np.float32)  # (B, D_clip)
    for i, embedding in zip(ok, featurize([decoded[i] for i in ok], encoders)):
        audio[i], visual[i], _ = embedding.complete(encoders)  # silence stands in for a silent video's sound
    return {"audio": audio, "visual": visual, "error": errors}


def _decoded_batches(videos_dir: Path, videos: list[PlannedVideo], batch_size: int, workers: int, encoders: Encoders):
    """Batches of (videos, their MediaSegments | MediaError), decoded ahead in threads (PyAV releases the GIL),
    with the audio window at the encoders' sample rate."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool:
        queue: deque[tuple[PlannedVideo, Future]] = deque()
        upcoming = iter(videos)
        while True:
            while len(queue) < 2 * batch_size:  # bounded look-ahead: memory stays flat on any collection
                video = next(upcoming, None)
                if video is None:
                    break
                queue.append((video, pool.submit(decode_video, videos_dir / video.path, encoders.preset.audio)))
            if not queue:
                break
            batch = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
            yield [video for video, _ in batch], [future.result() for _, future in batch]
