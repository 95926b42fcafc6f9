"""Extraction onto a full disk: one line, exit 2, no half-written file; run again, it finishes the same store."""

from __future__ import annotations

import logging

from avzsl.extraction import work_dir
from tests.helpers import assert_same_store, run_extract
from tests.helpers import fill_the_disk_at


def test_extraction_onto_a_full_disk_prints_one_line_and_finishes_when_run_again(
        video_folder, reference_store, tmp_path, monkeypatch, caplog):
    out = tmp_path / "store"
    # the first 4 videos' features, written and then written again on the way out: the disk stays full
    failures = fill_the_disk_at(monkeypatch, "chunk-00000.safetensors", times=2)
    assert run_extract(video_folder, out, "--chunk-size", "4") == 2
    assert failures
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "free some space" in errors[0]
    assert not list(out.rglob("*.tmp")) and not (out / "store.json").exists()
    assert work_dir(out).is_dir()  # what was finished before the disk filled up is kept
    assert run_extract(video_folder, out) == 0
    assert_same_store(out, reference_store)
