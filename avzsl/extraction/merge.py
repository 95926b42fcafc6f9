"""Turning a finished extraction's work folder into an avzsl feature store."""

from __future__ import annotations

import csv
import io
import logging
import shutil
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from avzsl.data.errors import DataError
from avzsl.data.provenance import Provenance
from avzsl.data.features import SAMPLE_SUBSETS, ClassText, Features, GZSLData
from avzsl.data.store import read_manifest, write_store
from avzsl.encoders.dims import CLAP, CLIP, join_text, text_parts
from avzsl.io import atomic_write_bytes
from avzsl.encoders import get_prompt_set
from avzsl.extraction.plan import ExtractionPlan
from avzsl.extraction.worker import (TEXT_FILE, ExtractionSettings, chunk_files, finished_videos, fingerprint,
                                    read_chunk_index, read_work_record, work_dir, work_record)
from avzsl.encoders.spec import EncoderSpec

log = logging.getLogger(__name__)

FAILED_REPORT = "failed.csv"


def missing_videos(store: str | Path) -> list[str]:
    """Paths of planned videos that no run has finished (extracted or failed) yet."""
    finished = finished_videos(work_dir(store))
    return [path for video_id, path, _, _ in read_work_record(store)["plan"]["videos"] if video_id not in finished]


def merge_extraction(store: str | Path, *, keep_work: bool = False) -> GZSLData:
    """Write `store.json` + `features.safetensors` from the work folder; every video must be finished.

    Videos that failed are left out and listed in `<store>/failed.csv`. The work folder is deleted once the
    store is written, unless `keep_work` or some videos failed: then it stays, so that `--retry-failed` can
    try them again and merge a new store without extracting the others again.
    """
    store = Path(store)
    work = work_dir(store)
    record = read_work_record(store)
    plan = ExtractionPlan.from_dict(record["plan"])
    missing = missing_videos(store)
    if missing:
        raise DataError(
            f"{len(missing)} of the {len(plan.videos)} planned videos have not been extracted yet, e.g. "
            f"{missing[:3]}; resume the extraction (run the same command again)"
        )

    # Every chunk, in file order: a later chunk's copy of a video (a retried failure) wins.
    rows: dict[str, int] = {}  # video id -> row of `audio` and `visual`
    failures: dict[str, dict] = {}
    audio_parts, visual_parts = [], []
    for path in chunk_files(work):
        ids, failed = read_chunk_index(path)
        if ids:
            tensors = load_file(path)
            offset = sum(len(part) for part in audio_parts)
            rows.update({video_id: offset + row for row, video_id in enumerate(ids)})
            audio_parts.append(tensors["audio"])
            visual_parts.append(tensors["visual"])
        failures.update({f["video_id"]: f for f in failed})
    failures = {k: v for k, v in failures.items() if k not in rows}
    _write_failed_report(store, failures)
    if audio_parts:
        audio, visual = np.concatenate(audio_parts), np.concatenate(visual_parts)  # (n, D_clap), (n, D_clip)
    else:
        audio = visual = np.zeros((0, 0), np.float32)
    del audio_parts, visual_parts  # one copy of the features at a time besides the subsets

    text = load_file(work / TEXT_FILE)
    settings = record["settings"]
    spec = EncoderSpec.from_dict(settings["encoders"])
    prompts = get_prompt_set(settings["prompt_set"])
    provenance = Provenance(encoders=spec, prompt_set=prompts.name, synthetic=False, details={
        "prompt_templates": {"clip": list(prompts.clip_templates), "clap": list(prompts.clap_templates)},
        "media": {"visual": f"CLIP embedding of the frame at duration / 2 ({spec.frames} frames)",
                  "audio": f"{spec.spec.audio.kind} embedding of the centred {spec.spec.audio.window_seconds:g} s at "
                           f"{spec.spec.audio.sample_rate} Hz, mono",
                  "no_audio": settings["no_audio"]},
        "split": plan.source,
        "videos": {"planned": len(plan.videos), "extracted": len(rows), "failed": len(failures)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "avzsl_version": record["avzsl_version"],
        "extraction": fingerprint(record),  # a rerun of the same command finds its work done (`made_by`)
    })
    try:
        assigned = plan.assign(set(rows))  # subsets drawn among the videos that were extracted
        subsets = {}
        for name in SAMPLE_SUBSETS:
            kept = [v for v in assigned if v.subset == name]
            where = [rows[v.video_id] for v in kept]
            subsets[name] = Features(audio[where], visual[where], [v.class_id for v in kept], [v.video_id for v in kept])
        parts = text_parts(text[CLIP].shape[1], text[CLAP].shape[1])
        data = GZSLData(plan.split, ClassText(join_text(text[CLIP], text[CLAP]), parts), subsets, provenance)
        for stage in (1, 2):
            data.stage(stage)  # the protocol's own checks: no class of a stage may be left without videos
    except DataError as e:
        hint = f" ({len(failures)} videos failed, see {store / FAILED_REPORT})" if failures else ""
        raise DataError(f"the extracted videos cannot form the GZSL benchmark{hint}: {e}") from e

    write_store(store, data)
    if failures:
        log.warning("%d of %d videos failed and are not in the store; see %s",
                    len(failures), len(plan.videos), store / FAILED_REPORT)
    if not keep_work and not failures:
        shutil.rmtree(work)
    log.info("wrote the feature store %s: %s", store,
             ", ".join(f"{name} {len(f)}" for name, f in data.subsets.items()))
    return data


def made_by(store: str | Path, plan: ExtractionPlan, settings: ExtractionSettings, spec: EncoderSpec) -> bool:
    """Whether the finished store at `store` was extracted with this plan and these settings."""
    recorded = read_manifest(store).get("provenance", {}).get("extraction")
    return recorded == fingerprint(work_record(plan, settings, spec))


def _write_failed_report(store: Path, failures: dict[str, dict]) -> None:
    report = store / FAILED_REPORT
    if not failures:
        report.unlink(missing_ok=True)
        return
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["video_id", "path", "error"])
    for f in sorted(failures.values(), key=lambda f: f["path"]):
        writer.writerow([f["video_id"], f["path"], f["error"]])
    atomic_write_bytes(report, text.getvalue().encode("utf-8"))
