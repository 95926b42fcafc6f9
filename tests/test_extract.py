"""Batch extraction: finding labelled videos, GZSL split plans, resumable local extraction, the CLI.

The Ray engine has its own module (test_extract_ray.py).

Videos are tiny generated clips; the encoders are the real architectures with random weights.
"""

from __future__ import annotations

import csv
import shutil
import textwrap

import numpy as np
import pytest

from avzsl.data.errors import DataError
from avzsl.data.features import SAMPLE_SUBSETS
from avzsl.data.splits import BUNDLED_SPLITS
from avzsl.data.store import read_store
from avzsl.encoders import load_encoders
from avzsl.extract import main as extract_main
from avzsl.extraction.worker import chunk_files, read_chunk_index, start_work, work_dir
from avzsl.extraction import (
    FAILED_REPORT,
    ExtractionSettings,
    LabelledVideo,
    extract_local,
    find_videos,
    merge_extraction,
    missing_videos,
    plan_from_split_folder,
    plan_random_split,
)
from avzsl.media import load_media
from avzsl.synthetic_media import DEMO_CLASSES, write_test_video
from tests.helpers import Child, assert_same_store, run_extract, store_rows

CLASSES = DEMO_CLASSES


@pytest.fixture(scope="module")
def encoders():
    return load_encoders("random")




def _videos(counts: dict[str, int]) -> list[LabelledVideo]:
    return [LabelledVideo(f"{c}-{i}", f"{c}/{i}.mp4", c) for c, n in counts.items() for i in range(n)]


# --- finding videos ------------------------------------------------------------------------------------------


def test_class_folders_give_labelled_videos(video_folder, tmp_path):
    videos = find_videos(video_folder)
    assert len(videos) == 18 and {v.class_name for v in videos} == set(CLASSES)
    assert all((video_folder / v.path).is_file() for v in videos)
    assert len({v.video_id for v in videos}) == 18

    # nested folders count, hidden files and loose files do not; clashing file names get path ids
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    for path in ("a/deeper/x.mp4", "b/x.MKV", "a/.hidden.mp4", "loose.mp4", "a/notes.txt"):
        (tmp_path / path).write_bytes(b"")
    found = {(v.video_id, v.path, v.class_name) for v in find_videos(tmp_path)}
    assert found == {("a/deeper/x", "a/deeper/x.mp4", "a"), ("b/x", "b/x.MKV", "b")}


def test_labels_csv_with_or_without_header(video_folder, tmp_path):
    rows = [("dog_barking/dog_0.mp4", "barking"), ("rain/rai_1.mp4", "rainfall"), ("gone.mp4", "x")]
    with_header = tmp_path / "with.csv"
    with_header.write_text("file,label\n" + "".join(f"{f},{c}\n" for f, c in rows))
    bare = tmp_path / "bare.csv"
    bare.write_text("".join(f"{f},{c}\n" for f, c in rows))
    for path in (with_header, bare):
        videos = find_videos(video_folder, path)  # the missing file is skipped with a warning
        assert [(v.path, v.class_name) for v in videos] == sorted(rows[:2])
    bad = tmp_path / "bad.csv"
    bad.write_text("movie,genre\na.mp4,b\n")
    with pytest.raises(DataError, match="name the columns"):
        find_videos(video_folder, bad)
    with pytest.raises(DataError, match="no videos found"):
        find_videos(tmp_path)


# --- split plans ------------------------------------------------------------------------------------------


def test_random_split_follows_the_benchmark_design():
    videos = _videos({f"class{k:02d}": 20 + k for k in range(12)})
    plan = plan_random_split(videos, seed=3, dataset="mine")
    assigned = plan.assign()
    lists = {name: set(ids) for name, ids in plan.split.lists.items()}
    seen, val_unseen, test_unseen = lists["stage_1_train"], lists["stage_1_val_unseen"], lists["stage_2_test_unseen"]
    assert (len(seen), len(val_unseen), len(test_unseen)) == (6, 3, 3)
    assert not (seen & val_unseen or seen & test_unseen or val_unseen & test_unseen)
    assert lists["stage_1_val_seen"] == seen and lists["stage_2_train"] == lists["stage_2_test_seen"] == seen | val_unseen

    by = {}
    for v in assigned:
        by.setdefault((v.class_id, v.subset), []).append(v)
    for class_id in seen:
        n = 20 + class_id
        test = len(by[(class_id, "stage_2_test_seen")])
        val = len(by[(class_id, "stage_1_val_seen")])
        assert test == round(0.1 * n) and val == round(0.1 * (n - test))
        assert len(by[(class_id, "stage_1_train")]) == n - test - val
    for class_id in val_unseen:
        assert {s for c, s in by if c == class_id} == {"stage_2_test_seen", "stage_1_val_unseen"}
    for class_id in test_unseen:
        assert {s for c, s in by if c == class_id} == {"stage_2_test_unseen"}
    assert sorted(v.video_id for v in assigned) == sorted(v.video_id for v in videos)  # each video once

    again = plan_random_split(list(reversed(videos)), seed=3, dataset="mine")
    assert again.to_dict() == plan.to_dict() and again.assign() == assigned  # same seed, same plan
    assert plan_random_split(videos, seed=4, dataset="mine").split.lists != plan.split.lists

    # a video lost in extraction changes the draw of its own class only
    lost = assigned[0]
    without = plan.assign({v.video_id for v in videos} - {lost.video_id})
    changed = {v.class_id for v in set(assigned) ^ set(without)}
    assert changed == {lost.class_id}


def test_random_split_refuses_what_cannot_form_a_benchmark():
    with pytest.raises(DataError, match="at least 3 classes"):
        plan_random_split(_videos({"a": 5, "b": 5}), seed=0, dataset="x")
    with pytest.raises(DataError, match="too few videos"):
        plan_random_split(_videos({"a": 1, "b": 1, "c": 1, "d": 1}), seed=0, dataset="x")


def test_benchmark_split_folder_maps_names_and_applies_the_cls_filter(tmp_path):
    # Videos for every class of the UCF cls split, in the video labels' spelling (HandStandPushups, where
    # all_class.txt says HandstandPushups), plus BandMarching, a main-split test class that the cls split
    # removed, and YoYo, a UCF class in no list: those two are not extracted.
    lists_folder = BUNDLED_SPLITS / "UCF"
    used = sorted({line for name in ("stage_2_train", "stage_2_test_unseen")
                   for line in (lists_folder / f"{name}.txt").read_text().split()})
    assert "HandStandPushups" in used
    videos = _videos({**{name: 5 for name in used}, "BandMarching": 4, "YoYo": 2})
    plan = plan_from_split_folder(videos, lists_folder, seed=0)
    assert len(plan.videos) == 5 * 48 and plan.source["videos_not_used"] == 6
    assert "HandstandPushups" in {plan.split.class_names[v.class_id] for v in plan.videos}
    subsets = {(plan.split.class_names[v.class_id], v.subset) for v in plan.assign()}
    assert ("BlowDryHair", "stage_2_test_unseen") in subsets and ("ApplyEyeMakeup", "stage_1_val_unseen") in subsets
    with pytest.raises(DataError, match="too few videos"):
        plan_from_split_folder(videos[5:], lists_folder)  # a class without videos

    with pytest.raises(DataError, match="not in .*all_class.txt"):
        plan_from_split_folder(_videos({"Unicycling on Mars": 3}), BUNDLED_SPLITS / "UCF")

    # with the benchmark's per-video lists, videos go where the lists say
    folder = tmp_path / "UCF"
    shutil.copytree(BUNDLED_SPLITS / "UCF", folder)
    chosen = {"stage_1_train": ["Archery-0", "Archery-1"], "stage_1_val_seen": ["Archery-2"],
              "stage_1_val_unseen": ["ApplyEyeMakeup-0"], "stage_2_test_seen": ["Archery-3", "ApplyEyeMakeup-1"],
              "stage_2_test_unseen": ["BlowDryHair-0", "BandMarching-0"]}
    for subset, ids in chosen.items():
        with open(folder / f"{subset}.csv", "w", newline="") as f:
            csv.writer(f).writerows([("filename", "label"), *[(i, i.split("-")[0]) for i in ids]])
    plan = plan_from_split_folder(videos, folder)
    assert {v.video_id: v.subset for v in plan.videos} == {
        i: s for s, ids in chosen.items() for i in ids if i != "BandMarching-0"  # cls filter
    }


# --- extraction -------------------------------------------------------------------------------------------




@pytest.mark.slow  # trains a checkpoint (README: -m 'not slow' leaves those out)
def test_extraction_writes_a_store_that_trains_and_predicts(reference_store, video_folder, encoders, tmp_path):
    data = read_store(reference_store)
    assert (reference_store / ".extract").is_dir()  # kept after the merge while videos failed: --retry-failed can use it
    assert sum(len(f) for f in data.subsets.values()) == 16  # 18 files, 2 failed
    failed = list(csv.DictReader(open(reference_store / FAILED_REPORT)))
    assert {(r["path"], "no audio track" in r["error"]) for r in failed} == {("rain/broken.mp4", False),
                                                                            ("rain/silent.mp4", True)}
    assert data.audio_dim == encoders.clap_dim and data.visual_dim == encoders.clip_dim
    assert data.text.parts == (("clip", encoders.clip_dim), ("clap", encoders.clap_dim))
    assert data.provenance.encoders.random is True and data.provenance.prompt_set == "free-text"
    assert data.split.prompt_names[data.split.index("dog_barking")] == "dog barking"

    # the stored vectors are the encoders' outputs for those files and those class names
    features = data.subsets["stage_1_train"]
    video_id = features.video_ids[0]
    path = next(video_folder.rglob(f"{video_id}.mp4"))
    decoded = load_media(path)[0]
    np.testing.assert_allclose(features.visual[0], encoders.embed_images([decoded.frame])[0], atol=1e-5)
    np.testing.assert_allclose(features.audio[0], encoders.embed_audio(decoded.audio[None])[0], atol=1e-5)
    text = encoders.embed_labels(list(data.split.prompt_names), "free-text")
    np.testing.assert_allclose(data.text.embeddings, np.concatenate([text.clip, text.clap], 1), atol=1e-6)

    # it trains, and the checkpoint is one the service accepts for these encoders
    from avzsl.train import main as train_main
    from avzsl.serving.service import PredictionService

    checkpoint = tmp_path / "checkpoints" / "mine"
    assert train_main(["--data", str(reference_store), "--out", str(checkpoint), "--epochs", "1",
                       "--batches-per-epoch", "2", "--batch-size", "4", "--no-progress"]) == 0
    service = PredictionService(encoders, checkpoints_dir=checkpoint.parent)
    assert service.model_info("mine").usable
    prediction = service.classify(path, ["dog barking", "rain"], "mine")
    assert [s.label for s in prediction.ranking] != [] and prediction.ranking[0].seen is not None


def test_interrupted_extraction_resumes_without_redoing_work(video_folder, encoders, reference_store, tmp_path,
                                                             monkeypatch):
    videos = find_videos(video_folder)
    plan = plan_random_split(videos, seed=0, dataset=video_folder.name)
    out = tmp_path / "store"
    real_embed = type(encoders).embed_images
    calls = []

    def embed_then_stop(self, frames):
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the third batch
        calls.append(len(frames))
        return real_embed(self, frames)

    monkeypatch.setattr(type(encoders), "embed_images", embed_then_stop)
    with pytest.raises(KeyboardInterrupt):
        extract_local(out, video_folder, plan, ExtractionSettings(), encoders, batch_size=4, chunk_size=4,
                      progress=False)
    monkeypatch.setattr(type(encoders), "embed_images", real_embed)
    assert not (out / "store.json").exists()
    left = missing_videos(out)
    assert 0 < len(left) < len(plan.videos) - sum(calls) + 1  # the finished batches were kept

    encoded = []
    monkeypatch.setattr(type(encoders), "embed_images", lambda self, frames: encoded.append(len(frames)) or real_embed(self, frames))
    result = extract_local(out, video_folder, plan, ExtractionSettings(), encoders, batch_size=4, progress=False)
    assert result.skipped == len(plan.videos) - len(left)
    assert result.extracted + result.failed == len(left) and sum(encoded) == result.extracted
    merge_extraction(out)
    assert_same_store(out, reference_store)


def test_a_last_chunk_of_failures_only_is_listed_and_merged(fewest_clips_folder, video_folder, encoders,
                                                            reference_store, tmp_path):
    """The last batch holds only broken files: its chunk has failures and no features, and still merges."""
    folder = tmp_path / "videos"
    shutil.copytree(fewest_clips_folder, folder)
    shutil.copy2(video_folder / "playing drums" / "pla_1.mp4", folder / "playing drums")  # 12 files: 6 batches
    for name in ("zz_broken_1.mp4", "zz_broken_2.mp4"):  # sorted last, so they fill the last batch
        (folder / "rain" / name).write_bytes(b"\x00\x00\x00\x18ftypmp42 cut short")
    plan = plan_random_split(find_videos(folder), seed=0, dataset=video_folder.name)
    assert [v.video_id for v in plan.videos[-2:]] == ["zz_broken_1", "zz_broken_2"] and len(plan.videos) == 14
    out = tmp_path / "store"
    result = extract_local(out, folder, plan, ExtractionSettings(), encoders, batch_size=2, chunk_size=2,
                           progress=False)
    assert (result.extracted, result.failed) == (10, 4)
    ids, failures = read_chunk_index(chunk_files(work_dir(out))[-1])
    assert ids == [] and [f["video_id"] for f in failures] == ["zz_broken_1", "zz_broken_2"]
    data = merge_extraction(out)
    assert sum(len(f) for f in data.subsets.values()) == 10
    failed = list(csv.DictReader(open(out / FAILED_REPORT)))
    assert sorted(r["video_id"] for r in failed) == ["broken", "silent", "zz_broken_1", "zz_broken_2"]
    # the same videos and features as without the two broken files: the split of the folder without them, over
    # the videos extracted, and each video's features as the reference extraction of the same files has them
    for name in ("zz_broken_1.mp4", "zz_broken_2.mp4"):
        (folder / "rain" / name).unlink()
    without = plan_random_split(find_videos(folder), seed=0, dataset=video_folder.name)
    assert data.split == without.split
    extracted = {i for f in data.subsets.values() for i in f.video_ids}
    for name in SAMPLE_SUBSETS:
        assert data.subsets[name].video_ids == [v.video_id for v in without.assign(extracted) if v.subset == name]
    reference = store_rows(read_store(reference_store))
    for video_id, (label, _, visual) in store_rows(data).items():
        assert label == reference[video_id][0], video_id
        np.testing.assert_allclose(visual, reference[video_id][2], atol=1e-5, err_msg=video_id)


def test_resume_with_other_settings_is_refused(video_folder, encoders, reference_store, tmp_path, caplog):
    out = tmp_path / "store"
    plan = plan_random_split(find_videos(video_folder), seed=0, dataset=video_folder.name)
    start_work(out, plan, ExtractionSettings(), encoders)  # an extraction that stopped before its first chunk
    assert run_extract(video_folder, out, "--prompts", "vggsound") == 2
    assert "different settings" in caplog.text
    assert run_extract(video_folder, out, "--random-split", "5") == 2
    assert "different plan" in caplog.text
    # the same arguments resume it: with the chunks of the reference extraction, which had the same ones
    shutil.copytree(reference_store / ".extract" / "chunks", work_dir(out) / "chunks")
    assert run_extract(video_folder, out) == 0
    assert_same_store(out, reference_store)


def test_a_finished_extraction_run_again_is_a_no_op(reference_store, video_folder, tmp_path, caplog, capsys):
    """The same command again (a retried cluster job) does nothing and succeeds; other options are refused."""
    out = tmp_path / "store"
    shutil.copytree(reference_store, out)
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert run_extract(video_folder, out) == 0
    printed = capsys.readouterr().out
    assert f"nothing to do: {out} is already the feature store" in printed and "--retry-failed tries" in printed
    assert run_extract(video_folder, out, "--random-split", "5") == 2  # a finished store is not overwritten
    assert run_extract(video_folder, out, "--no-audio", "silence") == 2
    assert caplog.text.count("already a finished feature store made from other videos or options") == 2
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == written


def test_failed_videos_can_be_retried(fewest_clips_folder, encoders, tmp_path):
    folder = tmp_path / "videos"
    shutil.copytree(fewest_clips_folder, folder)
    plan = plan_random_split(find_videos(folder), seed=0, dataset="videos")
    out = tmp_path / "store"
    first = extract_local(out, folder, plan, ExtractionSettings(), encoders, progress=False)
    assert first.failed == 2
    write_test_video(folder / "rain" / "broken.mp4", seconds=1.0, width=64, height=48, fps=5)  # repaired
    again = extract_local(out, folder, plan, ExtractionSettings(), encoders, progress=False)
    assert again.extracted == again.failed == 0  # failures are not retried by default
    retried = extract_local(out, folder, plan, ExtractionSettings(), encoders, progress=False, retry_failed=True)
    assert (retried.extracted, retried.failed) == (1, 1)  # the repaired file; the silent one fails again
    data = merge_extraction(out)
    assert "broken" in {i for f in data.subsets.values() for i in f.video_ids}
    assert [r["video_id"] for r in csv.DictReader(open(out / FAILED_REPORT))] == ["silent"]  # no longer "broken"


def test_silent_videos_can_be_kept_with_silence(fewest_clips_folder, encoders, tmp_path):
    plan = plan_random_split(find_videos(fewest_clips_folder), seed=0, dataset="v")
    out = tmp_path / "store"
    extract_local(out, fewest_clips_folder, plan, ExtractionSettings(no_audio="silence"), encoders, progress=False)
    data = merge_extraction(out)
    where = {i: (name, k) for name, f in data.subsets.items() for k, i in enumerate(f.video_ids)}
    name, k = where["silent"]
    silence = encoders.embed_audio(np.zeros((1, 480_000), np.float32))[0]
    np.testing.assert_allclose(data.subsets[name].audio[k], silence, atol=1e-5)


def test_command_line_errors(video_folder, tmp_path, caplog):
    with pytest.raises(SystemExit):
        extract_main([str(video_folder), "--out", str(tmp_path / "s")])  # no split chosen
    with pytest.raises(SystemExit):
        extract_main(["--out", str(tmp_path / "s"), "--random-split", "0"])  # no videos folder
    with pytest.raises(SystemExit):  # shards are retired: Ray extracts on many machines
        extract_main([str(video_folder), "--out", str(tmp_path / "s"), "--random-split", "0", "--num-shards", "2"])
    assert extract_main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "s"), "--random-split", "0",
                         "--encoders", "random"]) == 2
    assert "does not exist" in caplog.text
    with pytest.raises(SystemExit):  # options of the other engine
        extract_main([str(video_folder), "--out", str(tmp_path / "s"), "--random-split", "0", "--workers", "2"])




def test_ray_is_imported_only_by_the_ray_engine():
    """Cold start: predicting, the app's service and local extraction never import Ray (seconds a start)."""
    script = textwrap.dedent("""
        import sys
        import avzsl.extract, avzsl.extraction, avzsl.media.featurize, avzsl.predict, avzsl.serving.service
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
        sys.exit(1 if "ray" in sys.modules else 0)
    """)
    # the two fresh processes run at once: each waits on its imports
    others = Child("-c", script)
    engine = Child("-c", "import sys, avzsl.extraction.ray_engine; sys.exit(0 if 'ray' in sys.modules else 1)")
    done = others.result(timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert engine.result(timeout=300).returncode == 0  # the check can see an import of Ray when there is one
