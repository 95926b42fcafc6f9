"""Typed provenance: built where data is read, stored in the shapes avzsl always wrote, and read back from
stores and checkpoint configs that earlier versions wrote."""

from __future__ import annotations

import dataclasses
import json

import pytest

from avzsl.models.checkpoint import CheckpointConfig
from avzsl.data.provenance import Provenance
from avzsl.data.release import read_release
from avzsl.data.store import MANIFEST, read_store, write_store
from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release
from avzsl.encoders.spec import EncoderSpec, serving_problem
from tests.helpers import SCHEMA_1


@pytest.fixture(scope="module")
def small():
    return make_synthetic(SyntheticSpec(scale=0.03, seed=4))


def _with_encoders(data, spec: EncoderSpec):
    provenance = dataclasses.replace(data.provenance, encoders=spec, prompt_set="free-text", synthetic=False,
                                     details={"prompt_templates": {"clip": ["a photo of {}."], "clap": ["{}"]},
                                              "media": {"audio": "centred 10 s"}})
    return dataclasses.replace(data, provenance=provenance)


def test_each_reader_builds_a_typed_provenance(small, tmp_path):
    assert small.provenance == Provenance(None, None, True, small.provenance.source, {"text_alignment": "by-name"})
    release = read_release(write_release(small, tmp_path / "UCF"))
    assert release.provenance.encoders == EncoderSpec("clipclap-release", "bgr-float255")  # UCF's frames
    assert release.provenance.synthetic is True and release.provenance.source["kind"] == "clipclap-release"
    store = read_store(write_store(tmp_path / "store", _with_encoders(small, EncoderSpec("laion-clap"))))
    assert store.provenance.encoders == EncoderSpec("laion-clap") and store.provenance.prompt_set == "free-text"
    assert store.provenance.source == {"kind": "avzsl-store", "path": str(tmp_path / "store")}
    assert store.provenance.details["media"] == {"audio": "centred 10 s"}


def test_a_store_manifest_holds_synthetic_once(small, tmp_path):
    write_store(tmp_path / "store", small)
    manifest = json.loads((tmp_path / "store" / MANIFEST).read_text())
    assert manifest["synthetic"] is True and "synthetic" not in manifest["provenance"]
    assert read_store(tmp_path / "store").provenance.synthetic is True


@pytest.mark.parametrize("top, recorded", [(False, True), (True, False)])
def test_stores_of_earlier_versions_say_synthetic_in_either_place(small, tmp_path, top, recorded):
    write_store(tmp_path / "store", small)
    path = tmp_path / "store" / MANIFEST
    manifest = json.loads(path.read_text())
    # the shape earlier versions wrote: the flag in the provenance as well, encoders as {"synthetic": true}
    manifest["synthetic"] = top
    manifest["provenance"] |= {"synthetic": recorded, "encoders": {"synthetic": True}}
    path.write_text(json.dumps(manifest))
    provenance = read_store(tmp_path / "store").provenance
    assert provenance.synthetic is True and provenance.encoders is None


def test_round_trip_keeps_a_changed_preset_visible(small, tmp_path):
    """A store made by a preset whose spec has changed since: the record read back still says so, after a
    store is written again and after a checkpoint config carries it."""
    record = EncoderSpec("laion-clap").to_dict()
    record["preset_spec"]["audio"]["sample_rate"] = 16_000
    old = EncoderSpec.from_dict(record)
    data = _with_encoders(small, old)
    again = read_store(write_store(tmp_path / "a", read_store(write_store(tmp_path / "b", data))))
    assert again.provenance.encoders.to_dict()["preset_spec"]["audio"]["sample_rate"] == 16_000
    assert "has changed since" in serving_problem(again.provenance.encoders, EncoderSpec("laion-clap"))
    assert Provenance.from_dict(again.provenance.to_dict()) == again.provenance


def test_a_schema_2_config_of_the_previous_shape_still_loads():
    """config.json as avzsl wrote it before provenance was typed: "data" as the reader's dict, with the raw
    encoder record ({"synthetic": true}) and the flag repeated in it."""
    raw = json.loads((SCHEMA_1 / "config.json").read_text())
    config = CheckpointConfig.from_dict(raw)
    previous = config.to_dict() | {"data": {"synthetic": True, "encoders": {"synthetic": True},
                                             "source": {"kind": "synthetic", "spec": {"seed": 0}},
                                             "text_alignment": "by-name"}}
    read = CheckpointConfig.from_dict(previous)
    assert read.synthetic is True and read.encoders is None and read.prompt_set is None
    assert read.data.source == {"kind": "synthetic", "spec": {"seed": 0}}
    assert read.input_dims.text_parts == (("clip", 512), ("clap", 512)) and read.recipe.model == "clipclap"
    assert CheckpointConfig.from_dict(read.to_dict()) == read


def test_a_checkpoint_config_carries_the_provenance_of_its_data(small, tmp_path):
    raw = json.loads((SCHEMA_1 / "config.json").read_text())
    data = _with_encoders(small, EncoderSpec("laion-clap", random=True))
    config = dataclasses.replace(CheckpointConfig.from_dict(raw), data=data.provenance)
    stored = config.to_dict()
    assert stored["encoders"] == EncoderSpec("laion-clap", random=True).to_dict()  # the top-level keys kept
    assert stored["prompt_set"] == "free-text" and stored["synthetic"] is False
    assert stored["data"]["prompt_templates"] == {"name": "free-text", "clip": ["a photo of {}."], "clap": ["{}"]}
    read = CheckpointConfig.from_dict(json.loads(json.dumps(stored)))
    assert read.encoders == EncoderSpec("laion-clap", random=True) and read.data == config.data
