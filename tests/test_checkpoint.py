"""The checkpoint bundle: one typed config, each value stored once, and bundles of avzsl 0.1 still load.

tests/data/checkpoint-schema-1/ holds the config.json and metrics.json that avzsl 0.1 (schema 1) wrote for
a tiny ClipClap run on SYNTHETIC data; the weights are rebuilt here from its recipe (random, seeded), so the
repository does not carry 7 MB of meaningless weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from avzsl.models.checkpoint import (CONFIG, Calibration, CheckpointConfig, CheckpointError, ClassNames, load_checkpoint,
                              read_config, read_metrics, save_checkpoint)
from tests.helpers import SCHEMA_1


@pytest.fixture
def old_bundle(tmp_path) -> Path:
    """A schema-1 bundle: avzsl 0.1's config.json and metrics.json, with weights that fit its recipe."""
    folder = tmp_path / "old"
    shutil.copytree(SCHEMA_1, folder)
    config = read_config_without_weights(folder)
    torch.manual_seed(0)
    from safetensors.torch import save_file

    save_file(dict(config.recipe.build(config.input_dims).state_dict()), str(folder / "model.safetensors"))
    return folder


def read_config_without_weights(folder: Path) -> CheckpointConfig:
    return CheckpointConfig.from_dict(json.loads((folder / CONFIG).read_text()))


def test_a_schema_1_bundle_is_converted_when_read(old_bundle):
    raw = json.loads((old_bundle / CONFIG).read_text())
    assert raw["schema_version"] == 1 and raw["gamma"] == raw["metrics"]["gamma"]  # the old duplication
    config = read_config(old_bundle)
    assert config.calibration.gamma == raw["gamma"] and config.best_epoch == raw["best_epoch"]
    assert config.classes.train == tuple(raw["classes"]["train"]) and len(config.classes.all) == 101
    assert config.text_alignment == "by-name" and config.synthetic is True and config.dataset == "UCF"
    assert config.encoders is None  # schema 1 wrote {"synthetic": true}: no encoder spec
    assert config.input_dims.text_parts == (("clip", 512), ("clap", 512))
    assert read_metrics(old_bundle) == {k: raw["metrics"][k] for k in ("val", "test")}
    checkpoint = load_checkpoint(old_bundle)
    out = checkpoint.model.joint_scores(torch.zeros(2, 512), torch.zeros(2, 512), torch.zeros(3, 1024))
    assert out.distances.shape == (2, 3) and out.samples.shape[0] == 2 and out.classes.shape[0] == 3


def test_config_round_trips_and_stores_each_value_once(old_bundle, tmp_path):
    checkpoint = load_checkpoint(old_bundle)
    save_checkpoint(tmp_path / "new", checkpoint.model, checkpoint.config)
    raw = json.loads((tmp_path / "new" / CONFIG).read_text())
    assert raw["schema_version"] == 2
    assert "gamma" not in raw and "text" not in raw and "metrics" not in raw  # γ in calibration, parts in input_dims
    assert raw["calibration"] == {"gamma": checkpoint.config.calibration.gamma, "alpha": 0.0, "blend_scale": 1.0}
    again = read_config(tmp_path / "new")
    assert again.to_dict() | {"created": "", "versions": {}} == checkpoint.config.to_dict() | {"created": "", "versions": {}}


def test_seen_labels_match_class_or_prompt_names_in_any_case():
    classes = ClassNames(all=("ApplyEyeMakeup", "Archery", "Basketball"), prompt_names=("Apply Eye Makeup", "Archery",
                         "Basketball"), train=("ApplyEyeMakeup", "Archery"), test_seen=(), test_unseen=("Basketball",))
    assert classes.is_seen("apply eye makeup") and classes.is_seen("APPLYEYEMAKEUP") and classes.is_seen("archery")
    assert not classes.is_seen("basketball") and not classes.is_seen("apply eye")


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="something-else"), "not an avzsl checkpoint"),
    (lambda d: d.update(schema_version=99), "checkpoint schema 99"),
    (lambda d: d.pop("calibration"), "config.json: field calibration is missing"),
])
def test_damaged_configs_are_refused_with_the_reason(old_bundle, tmp_path, change, message):
    config = read_config(old_bundle).to_dict()
    change(config)
    (old_bundle / CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        read_config(old_bundle)
    (old_bundle / CONFIG).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_config(old_bundle)


def test_calibration_is_typed():
    assert Calibration(gamma=0.5).gamma == 0.5
    with pytest.raises(TypeError):
        Calibration()  # γ has no default: a bundle always says how it calibrates
