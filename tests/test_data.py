"""Class splits, the release reader, the feature store and the synthetic generator."""

import os
import pickle
import shutil
import sys

import numpy as np
import pytest

from avzsl.data.errors import DataError
from avzsl.data.loading import open_data
from avzsl.data.release import load_numpy_pickle, read_release
from avzsl.data.splits import load_class_split
from avzsl.data.store import read_store, write_store
from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release


@pytest.mark.parametrize("name, k_all, sizes", [
    ("UCF", 101, (30, 12, 42, 6)),
    ("ActivityNet", 200, (99, 51, 150, 48)),
    ("VGGSound", 309, (138, 69, 207, 64)),
])
def test_bundled_cls_splits_have_the_benchmark_sizes(name, k_all, sizes):
    split = load_class_split(name)
    lists = split.lists
    assert split.num_classes == k_all
    assert tuple(len(lists[k]) for k in ("stage_1_train", "stage_1_val_unseen", "stage_2_train", "stage_2_test_unseen")) == sizes
    assert lists["stage_1_val_seen"] == lists["stage_1_train"]
    assert lists["stage_2_test_seen"] == lists["stage_2_train"]
    assert set(lists["stage_2_train"]) == set(lists["stage_1_train"]) | set(lists["stage_1_val_unseen"])
    assert not set(lists["stage_2_test_unseen"]) & set(lists["stage_2_train"])


def test_split_names_match_case_insensitively_and_prompts_come_from_the_csv():
    split = load_class_split("UCF")
    assert split.index("HandStandPushups") == split.index("HandstandPushups")
    assert split.prompt_names[split.index("HandstandPushups")] == "Hand Stand Pushups"
    vgg = load_class_split("VGGSound")
    assert vgg.prompt_names[vgg.index("police car (siren)")] == "police car siren"
    with pytest.raises(DataError, match="not one of the 101 classes"):
        split.index("Juggling Chainsaws")


@pytest.fixture(scope="module")
def small():
    return make_synthetic(SyntheticSpec(scale=0.05, seed=3))


def test_synthetic_data_is_labelled_and_follows_the_split(small):
    assert small.provenance.synthetic is True
    stage2 = small.stage(2)
    assert set(np.unique(stage2.eval.labels)) == set(stage2.seen_classes) | set(stage2.unseen_classes)
    # decoy test-unseen classes (outside the cls lists) exist in the subset but are filtered out
    assert len(np.unique(small.subsets["stage_2_test_unseen"].labels)) == 6 + 3
    assert len(np.unique(stage2.eval.labels)) == 48


def test_release_round_trip_applies_cls_filter_and_case_folding(small, tmp_path):
    root = write_release(small, tmp_path / "UCF")
    # The release spells this class HandStandPushups in its file names (reference §1.3).
    for path in (root / "features").rglob("HandstandPushups.pkl"):
        path.rename(path.with_name("HandStandPushups.pkl"))
    data = open_data(root)
    assert data.provenance.synthetic is True
    for name, original in small.subsets.items():
        keep = np.isin(original.labels, data.split.lists[name])
        np.testing.assert_array_equal(data.subsets[name].labels, original.labels[keep])
        np.testing.assert_allclose(data.subsets[name].audio, original.audio[keep], atol=1e-7)
        np.testing.assert_allclose(data.subsets[name].visual, original.visual[keep], atol=1e-3)  # stored float16
    np.testing.assert_allclose(data.text.embeddings, small.text.embeddings, atol=1e-7)
    assert data.stage(2).eval.labels.size == small.stage(2).eval.labels.size


@pytest.mark.parametrize("call", [os.system, shutil.rmtree])
def test_release_reader_refuses_pickles_that_are_not_numpy_data(tmp_path, call):
    class Evil:
        def __reduce__(self):
            victim = str(tmp_path / "victim")
            return (call, (f"rm -r {victim}",) if call is os.system else (victim,))

    (tmp_path / "victim").mkdir()
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"features": [Evil()]}))
    with pytest.raises(DataError, match=f"refusing to load {call.__module__}.{call.__name__}"):
        load_numpy_pickle(path)
    assert (tmp_path / "victim").is_dir()


def test_release_reader_reads_pickles_written_by_numpy_2(tmp_path, monkeypatch):
    """numpy 2 names numpy._core.multiarray where numpy 1 wrote numpy.core.multiarray: both read the same, also
    with a numpy that has no numpy._core (before 1.26), and still as numpy data only."""
    features = {"v_1": np.arange(6, dtype=np.float32).reshape(2, 3), "scale": np.float32(0.5)}
    path = tmp_path / "numpy2.pkl"
    path.write_bytes(pickle.dumps(features, protocol=2).replace(b"numpy.core.", b"numpy._core."))
    assert b"numpy._core.multiarray\n_reconstruct" in path.read_bytes() and b"numpy.core" not in path.read_bytes()
    for module in ("numpy._core", "numpy._core.multiarray", "numpy._core.numeric"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it is an ImportError, as in numpy 1.23-1.25
    loaded = load_numpy_pickle(path)
    np.testing.assert_array_equal(loaded["v_1"], features["v_1"])
    assert loaded["scale"] == 0.5 and type(loaded["scale"]) is np.float32


@pytest.mark.parametrize("bench_name, misaligned", [("UCF", 0), ("ActivityNet", 8), ("VGGSound", 205)])
def test_sorted_keys_alignment_reproduces_the_reference_permutation(tmp_path, bench_name, misaligned):
    data = make_synthetic(SyntheticSpec(benchmark=bench_name, scale=0.002, seed=1, audio_dim=8, visual_dim=8,
                                        text_parts=(("clip", 8), ("clap", 8))))
    root = write_release(data, tmp_path / bench_name)
    by_name = read_release(root, text_alignment="by-name")
    sorted_keys = read_release(root, text_alignment="sorted-keys")
    np.testing.assert_allclose(by_name.text.embeddings, data.text.embeddings, atol=1e-7)
    wrong_rows = np.any(np.abs(sorted_keys.text.embeddings - data.text.embeddings) > 1e-6, axis=1)
    assert int(wrong_rows.sum()) == misaligned  # reference §3.4 table
    assert sorted_keys.text.alignment == "sorted-keys"


def test_release_errors_name_what_is_missing(small, tmp_path):
    root = write_release(small, tmp_path / "UCF")
    (root / "class-split" / "cls_split" / "stage_1_val_unseen.txt").unlink()
    with pytest.raises(DataError, match="missing split file .*stage_1_val_unseen.txt"):
        read_release(root)

    root = write_release(small, tmp_path / "UCF2")
    (root / "features" / "cls_features_non_averaged" / "audio" / "stage_1_train" / "Archery.pkl").unlink()
    with pytest.raises(DataError, match=r"1 class\(es\) of stage_1_train.txt have no feature file .*Archery"):
        read_release(root)


def test_store_round_trip_and_schema_check(small, tmp_path):
    write_store(tmp_path / "store", small)
    data = read_store(tmp_path / "store")
    for name, f in small.subsets.items():
        np.testing.assert_array_equal(data.subsets[name].audio, f.audio)
        assert data.subsets[name].video_ids == f.video_ids
    assert data.split == small.split
    assert data.provenance.synthetic is True
    manifest = (tmp_path / "store" / "store.json").read_text().replace('"schema_version": 1', '"schema_version": 99')
    (tmp_path / "store" / "store.json").write_text(manifest)
    with pytest.raises(DataError, match="schema version 99"):
        read_store(tmp_path / "store")


def test_empty_subset_and_unknown_path_fail_clearly(small, tmp_path):
    empty = small.subsets["stage_2_test_unseen"].select(np.zeros(len(small.subsets["stage_2_test_unseen"]), bool))
    small_copy = type(small)(small.split, small.text, {**small.subsets, "stage_2_test_unseen": empty}, small.provenance)
    with pytest.raises(DataError, match="6 class\\(es\\) of the stage-2 evaluation set of UCF have no videos"):
        small_copy.stage(2)
    with pytest.raises(DataError, match="neither an avzsl feature store"):
        open_data(tmp_path)
