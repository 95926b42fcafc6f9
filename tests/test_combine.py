"""Training on several data sets of one feature space: the ClipClap release plus a user's own videos."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avzsl.models.checkpoint import read_config
from avzsl.data.combine import combine
from avzsl.data.errors import DataError
from avzsl.data.loading import open_data
from avzsl.data.splits import ClassSplit
from avzsl.data.store import write_store
from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release
from avzsl.encoders import EncoderSpec
from avzsl.train import main as train_main

MINE = ("Beatboxing", "Juggling", "Kite flying", "Whistling")  # none of them a UCF class


def my_videos(encoders: EncoderSpec, roles: dict[str, str] | None = None):
    """A SYNTHETIC store of four new classes in the release's feature space (sizes and encoder record)."""
    roles = roles or {"Beatboxing": "seen", "Juggling": "seen", "Kite flying": "val", "Whistling": "test"}
    ids = {name: i for i, name in enumerate(sorted(roles))}
    seen = tuple(ids[n] for n, r in roles.items() if r == "seen")
    val, test = tuple(ids[n] for n, r in roles.items() if r == "val"), tuple(ids[n] for n, r in roles.items() if r == "test")
    lists = {"stage_1_train": seen, "stage_1_val_seen": seen, "stage_1_val_unseen": val,
             "stage_2_train": tuple(sorted(seen + val)), "stage_2_test_seen": tuple(sorted(seen + val)),
             "stage_2_test_unseen": test}
    split = ClassSplit("mine", tuple(sorted(roles)), tuple(sorted(roles)), lists)
    data = make_synthetic(SyntheticSpec(scale=0.2, seed=5, decoy_unseen_classes=0), split=split)
    return dataclasses.replace(data, provenance=dataclasses.replace(data.provenance, encoders=encoders))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(make_synthetic(SyntheticSpec(scale=0.05)), tmp_path_factory.mktemp("papers") / "UCF")


def test_the_release_and_my_videos_become_one_benchmark(release):
    ucf = open_data(release)
    mine = my_videos(EncoderSpec("clipclap-release", "bgr-float255"))
    both = combine([ucf, mine])
    assert both.split.num_classes == ucf.split.num_classes + 4
    assert list(both.split.class_names) == sorted(both.split.class_names)
    names = both.split.class_names
    unseen = {names[i] for i in both.split.lists["stage_2_test_unseen"]}
    assert "Whistling" in unseen and unseen >= {ucf.split.class_names[i] for i in ucf.split.lists["stage_2_test_unseen"]}
    for subset in ("stage_1_train", "stage_2_test_unseen"):
        assert len(both.subsets[subset]) == len(ucf.subsets[subset]) + len(mine.subsets[subset])
    # every video keeps its class (by name) and the class its text
    juggling = names.index("Juggling")
    rows = both.subsets["stage_1_train"].labels == juggling
    np.testing.assert_array_equal(both.subsets["stage_1_train"].audio[rows],
                                  mine.subsets["stage_1_train"].audio[mine.subsets["stage_1_train"].labels == 1])
    np.testing.assert_array_equal(both.text.embeddings[juggling], mine.text.embeddings[1])
    archery = names.index("Archery")
    np.testing.assert_array_equal(both.text.embeddings[archery], ucf.text.embeddings[ucf.split.index("Archery")])


@pytest.mark.slow  # trains a checkpoint (README: -m 'not slow' leaves those out)
def test_train_on_both_through_the_cli(release, tmp_path):
    write_store(tmp_path / "mine", my_videos(EncoderSpec("clipclap-release", "bgr-float255")))
    out = tmp_path / "both"
    assert train_main(["--data", str(release), "--data", str(tmp_path / "mine"), "--dataset", "UCF", "--out", str(out),
                       "--epochs", "1", "--batches-per-epoch", "3", "--no-progress", "--device", "cpu"]) == 0
    config = read_config(out)
    assert {"Juggling", "Archery"} <= set(config.classes.train) and "Whistling" in config.classes.test_unseen
    assert config.encoders.preset == "clipclap-release"


def test_parts_of_other_feature_spaces_or_clashing_roles_are_refused(release):
    ucf = open_data(release)
    with pytest.raises(DataError, match="not in one feature space"):
        combine([ucf, my_videos(EncoderSpec("clipclap-release", "rgb"))])  # other frame convention
    clash = my_videos(EncoderSpec("clipclap-release", "bgr-float255"),
                      {"Archery": "test", "Juggling": "seen", "Kite flying": "val", "Whistling": "seen"})
    with pytest.raises(DataError, match="has other text in mine"):
        combine([ucf, clash])  # the same class name must mean the same class text
    clash.text.embeddings[clash.split.index("Archery")] = ucf.text.embeddings[ucf.split.index("Archery")]
    with pytest.raises(DataError, match="training classes in one data set and unseen in another"):
        combine([ucf, clash])  # Archery is a UCF training class
