"""Extraction onto a full disk: one line, exit 2, no half-written file; run again, it finishes the same store."""

from __future__ import annotations

import logging
import shutil

from avzsl.extraction import work_dir
from avzsl.extraction.worker import chunk_files
from tests.helpers import assert_same_store, run_extract
from tests.helpers import fill_the_disk_at


def test_extraction_onto_a_full_disk_prints_one_line_and_finishes_when_run_again(
        video_folder, reference_store, tmp_path, monkeypatch, caplog):
    """An extraction that earlier runs took through its first 12 videos (the reference extraction's first three
    chunks of 4, copied) meets a full disk at its next chunk; run again, it finishes the reference store."""
    out = tmp_path / "store"
    shutil.copytree(work_dir(reference_store), work_dir(out))
    earlier = chunk_files(work_dir(out))
    assert len(earlier) == 5
    for chunk in earlier[3:]:
        chunk.unlink()
    kept = {chunk: chunk.read_bytes() for chunk in earlier[:3]}
    # the next 4 videos' features, written and then written again on the way out: the disk stays full
    failures = fill_the_disk_at(monkeypatch, "chunk-00003.safetensors", times=2)
    assert run_extract(video_folder, out, "--chunk-size", "4") == 2
    assert failures
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "free some space" in errors[0]
    assert not list(out.rglob("*.tmp")) and not (out / "store.json").exists()
    # what was finished before the disk filled up is kept, as it was
    assert {chunk: chunk.read_bytes() for chunk in chunk_files(work_dir(out))} == kept
    assert run_extract(video_folder, out) == 0
    assert_same_store(out, reference_store)
