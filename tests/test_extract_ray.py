"""The Ray Data extraction engine on a local Ray of 2 CPUs (started once for the module).

Videos are tiny generated clips; the encoders are the real architectures with random weights, loaded once
per embedding actor.
"""

from __future__ import annotations

import csv
import shutil
import socket

import numpy as np
import pytest
import ray

from avzsl.data.store import read_store
from avzsl.extraction import FAILED_REPORT
from avzsl.extraction.worker import chunk_files, read_chunk_index, work_dir
from avzsl.cli import EXIT_INTERRUPTED
from tests.helpers import run_extract, store_rows

# A local Ray and its actors' encoder loads: about 50 s for the module, so `-m "not slow"` leaves it out.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


def test_a_rerun_after_a_kill_skips_finished_chunks_and_no_failure_moves_features(
        fewest_clips_folder, reference_store, tmp_path, monkeypatch):
    """Killed after its first chunk, then run again, on the fewest test videos that a split takes (conftest's
    `fewest_clips_folder`: 9 good, a damaged file, a silent clip) plus a damaged file first in three classes,
    in batches of 3: the rerun extracts no video twice, and every good video's features are the local engine's, in
    its own row, whatever failed beside it in a batch (a batch packed in arrival order would give the videos after
    a failure their neighbours' features: silent corruption). The failures are listed, with their reasons. (A Ray
    run from the start is compared with a local one store for store by tests/test_readme.py, as README shows.)"""
    from avzsl.extraction import worker

    folder = tmp_path / "videos"
    shutil.copytree(fewest_clips_folder, folder)
    damaged = [f"{name}/a_broken.mp4" for name in ("dog_barking", "playing drums", "Car engine")]
    for path in damaged:  # first of their class: good videos follow
        (folder / path).write_bytes(b"\x00\x00\x00\x18ftypmp42 this file was cut short")
    out = tmp_path / "ray"
    real_save = worker.atomic_save_tensors

    def save_then_stop(path, *args):
        if chunk_files(work_dir(out)):  # a chunk is on disk: Ctrl-C before the next
            raise KeyboardInterrupt
        real_save(path, *args)

    monkeypatch.setattr(worker, "atomic_save_tensors", save_then_stop)
    run = ("--engine", "ray", "--batch-size", "3")
    assert run_extract(folder, out, *run, "--chunk-size", "2") == EXIT_INTERRUPTED  # one line, no traceback
    monkeypatch.setattr(worker, "atomic_save_tensors", real_save)
    assert not (out / "store.json").exists()
    [first] = chunk_files(work_dir(out))
    kept = first.read_bytes()
    done, failures = read_chunk_index(first)
    assert 0 < len(done) + len(failures) < 14  # some videos, not all

    assert run_extract(folder, out, *run, "--keep-work") == 0
    assert first.read_bytes() == kept  # not written again
    seen = [i for path in chunk_files(work_dir(out)) for i in read_chunk_index(path)[0]]
    assert len(seen) == len(set(seen)) == 9  # no video extracted twice, all 9 good ones once
    failed = {r["path"]: r["error"] for r in csv.DictReader(open(out / FAILED_REPORT))}
    assert set(failed) == {"rain/broken.mp4", "rain/silent.mp4", *damaged}  # listed, never fatal
    assert "looks like a media file" in failed["rain/broken.mp4"] and "no audio track" in failed["rain/silent.mp4"]
    ray, local = read_store(out), read_store(reference_store)
    np.testing.assert_array_equal(ray.text.embeddings, local.text.embeddings)
    assert ray.provenance.encoders == local.provenance.encoders
    ray_rows, local_rows = store_rows(ray), store_rows(local)  # local: the reference extraction of every clip
    assert set(ray_rows) == {p.stem for p in fewest_clips_folder.glob("*/*_*.mp4")}  # the 9 good videos
    for video_id, (label, audio, visual) in ray_rows.items():
        assert label == local_rows[video_id][0], video_id
        np.testing.assert_allclose(audio, local_rows[video_id][1], atol=1e-5, err_msg=video_id)
        np.testing.assert_allclose(visual, local_rows[video_id][2], atol=1e-5, err_msg=video_id)


def test_an_address_where_no_cluster_answers_is_one_clear_error(video_folder, tmp_path, caplog, monkeypatch):
    """--address and a RAY_ADDRESS in the environment are both checked before any work (Ray itself would
    retry a stale address for minutes)."""
    with socket.socket() as s:  # a free port on loopback: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        for option, environment in ((["--address", address], ""), ([], address)):
            caplog.clear()
            monkeypatch.setenv("RAY_ADDRESS", environment)
            assert run_extract(video_folder, tmp_path / "s", "--engine", "ray", *option) == 2
            errors = [r for r in caplog.records if r.levelname == "ERROR"]
            assert len(errors) == 1 and f"no Ray cluster answers at {address}" in errors[0].getMessage()
    assert not (tmp_path / "s").exists()  # refused before any work
    assert run_extract(video_folder, tmp_path / "s", "--engine", "ray", "--address", "nowhere") == 2
    assert "not a Ray address" in caplog.text
