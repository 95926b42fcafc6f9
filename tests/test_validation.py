"""Bad checkpoint and feature-store files are refused before anything is built from them: one error naming
the file and the field, and one line from the command-line tools (avzsl/validation.py, avzsl/cli.py)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from avzsl.models.checkpoint import CONFIG, METRICS, WEIGHTS, CheckpointError, load_checkpoint, read_config, read_metrics, save_checkpoint
from avzsl.data.errors import DataError
from avzsl.data.store import MANIFEST, TENSORS, read_store, write_store
from avzsl.data.synthetic import SyntheticSpec, make_synthetic
from avzsl.evaluate import main as evaluate_main

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_1 = ROOT / "tests" / "data" / "checkpoint-schema-1"


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory) -> Path:
    """A complete schema-2 bundle (avzsl 0.1's tiny SYNTHETIC ClipClap config, seeded weights)."""
    from avzsl.models.checkpoint import CheckpointConfig

    config = CheckpointConfig.from_dict(json.loads((SCHEMA_1 / CONFIG).read_text()))
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("good") / "bundle"
    save_checkpoint(folder, config.recipe.build(config.input_dims), config)
    shutil.copy(SCHEMA_1 / METRICS, folder / METRICS)
    return folder


@pytest.fixture
def bundle(good_bundle, tmp_path) -> Path:
    return shutil.copytree(good_bundle, tmp_path / "bundle")


def edit_json(path: Path, change) -> None:
    """Rewrite a JSON file with `change(data)`: its return value, or the data it changed in place."""
    data = json.loads(path.read_text())
    data = change(data) or data
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("change, message", [
    (lambda d: [d], "the file must be a JSON object, not a list"),
    (lambda d: d.update(classes=5), "field classes must be an object, not the number 5"),
    (lambda d: d["classes"].update(train="Archery"), "field classes.train must be a list of texts"),
    (lambda d: d.update(seed="42"), "field seed must be a whole number, not the text '42'"),
    (lambda d: d.pop("best_epoch"), "field best_epoch is missing"),
    (lambda d: d["calibration"].update(gamma=float("nan")), "field calibration.gamma must be a finite number"),
    (lambda d: d["input_dims"].update(audio=-3), "field input_dims.audio must be a whole number from 1"),
    (lambda d: d["recipe"]["config"].update(d_hidden="512"), "field recipe.config.d_hidden must be a whole number"),
    (lambda d: d["recipe"]["config"].update(width=3), "field recipe.config.width is not a setting of ClipClapConfig"),
    (lambda d: d["recipe"].update(model="gpt"), "field recipe.model is 'gpt', a model unknown"),
    (lambda d: d["recipe"]["training"].update(gamma_grid="fine"), "field recipe.training.gamma_grid must be a list"),
])
def test_every_config_field_is_typed_and_named_in_the_error(bundle, change, message):
    edit_json(bundle / CONFIG, change)
    with pytest.raises(CheckpointError, match="^" + _regex(f"{bundle / CONFIG}: {message}")):
        read_config(bundle)


def _regex(text: str) -> str:
    import re

    return re.escape(text)


def test_a_config_asking_for_a_4_tb_layer_is_refused_before_any_allocation(bundle):
    # d_hidden 10^6: a 10^6 x 10^6 float32 layer, 4 TB. Built for real this would fail only after trying to allocate.
    edit_json(bundle / CONFIG, lambda d: d["recipe"]["config"].update(d_hidden=1_000_000))
    with pytest.raises(CheckpointError, match=r"config\.json: the recipe asks for a model of [\d,]+ parameters "
                                              r"\([\d,.]+ GB\); avzsl refuses more than"):
        load_checkpoint(bundle)


def test_weights_that_are_not_safetensors_are_refused_by_their_header(bundle):
    (bundle / WEIGHTS).write_bytes(b"\xff" * 64 + b"not a safetensors file")
    with pytest.raises(CheckpointError, match=rf"{WEIGHTS} is not a safetensors file \(header too large"):
        load_checkpoint(bundle)
    (bundle / WEIGHTS).write_bytes((20).to_bytes(8, "little") + b'{"a": [1, 2, 3]}    ')
    with pytest.raises(CheckpointError, match="tensor a has a damaged header entry"):
        load_checkpoint(bundle)


def test_a_huge_or_duplicated_safetensors_header_is_refused_before_it_is_parsed(bundle):
    """A header of 99.5 MB was once parsed whole (31 s, 650 MB) before the library refused it."""
    import time

    from avzsl.validation import MAX_HEADER_BYTES

    length = MAX_HEADER_BYTES + 1
    with open(bundle / WEIGHTS, "wb") as f:
        f.write(length.to_bytes(8, "little") + b"{" + b" " * (length - 2) + b"}")
    began = time.perf_counter()
    with pytest.raises(CheckpointError, match="header too large"):
        load_checkpoint(bundle)
    assert time.perf_counter() - began < 1.0
    header = b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    (bundle / WEIGHTS).write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    with pytest.raises(CheckpointError, match="its header names 'a' twice") as refused:
        load_checkpoint(bundle)
    assert "\n" not in str(refused.value)


def test_weights_of_the_wrong_shape_or_dtype_or_truncated_are_named(bundle):
    weights = load_file(str(bundle / WEIGHTS))
    name = next(k for k, v in weights.items() if v.ndim == 2)
    save_file({**weights, name: weights[name].astype(np.float64)}, str(bundle / WEIGHTS))
    with pytest.raises(CheckpointError, match=f"tensor {_regex(name)} is F64 .*; it must be F32"):
        load_checkpoint(bundle)
    save_file(weights, str(bundle / WEIGHTS))
    data = (bundle / WEIGHTS).read_bytes()
    (bundle / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="does not fit in the file"):
        load_checkpoint(bundle)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_weights_are_refused_when_loaded_and_evaluate_exits_non_zero(bundle, tmp_path, caplog, bad):
    weights = load_file(str(bundle / WEIGHTS))
    name = sorted(weights)[0]
    weights[name] = np.full_like(weights[name], bad)
    save_file(weights, str(bundle / WEIGHTS))
    with pytest.raises(CheckpointError, match=f"{WEIGHTS}: tensor {_regex(name)} has .*non-finite values"):
        load_checkpoint(bundle)
    store = write_store(tmp_path / "store", make_synthetic(SyntheticSpec(scale=0.02, seed=0)))
    assert evaluate_main(["--checkpoint", str(bundle), "--data", str(store), "--device", "cpu"]) == 2
    assert "non-finite" in caplog.text


@pytest.mark.parametrize("content, message", [
    ([1], "metrics.json: the file must be a JSON object, not a list"),
    ({"test": {"S": 1, "U": 2, "HM": "x", "ZSL": 3}}, "metrics.json: field test.HM must be a finite number"),
    ({"val": [1]}, "metrics.json: field val must be a JSON object"),
])
def test_metrics_file_is_typed(bundle, content, message):
    (bundle / METRICS).write_text(json.dumps(content))
    with pytest.raises(CheckpointError, match=_regex(message)):
        read_metrics(bundle)


# --- feature stores ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("stores") / "store", make_synthetic(SyntheticSpec(scale=0.02, seed=0)))


@pytest.fixture
def store(good_store, tmp_path) -> Path:
    return shutil.copytree(good_store, tmp_path / "store")


def rewrite_tensors(store: Path, change) -> None:
    tensors = load_file(str(store / TENSORS))
    change(tensors)
    save_file(tensors, str(store / TENSORS))


@pytest.mark.parametrize("change, message", [
    (lambda t: t.pop("text"), "tensor text is missing"),
    (lambda t: t.update(text=t["text"][:, :10]), r"tensor text is F32 \(\d+, 10\); it must be F32 \(\d+, \d+\)"),
    (lambda t: t.update({"stage_1_train.labels": t["stage_1_train.labels"].astype(np.int32)}),
     r"tensor stage_1_train.labels is I32 .*; it must be I64 \(\d+,\)"),
    (lambda t: t["stage_2_test_seen.audio"].__setitem__((3, 5), np.nan),
     "tensor stage_2_test_seen.audio has non-finite values .* the first row 3"),
    (lambda t: t["stage_1_train.labels"].__setitem__(0, 10_000), "tensor stage_1_train.labels holds class ids outside"),
])
def test_store_tensors_are_present_with_shapes_dtypes_and_finite_values(store, change, message):
    rewrite_tensors(store, change)
    with pytest.raises(DataError, match=f"{TENSORS}: {message}"):
        read_store(store)


@pytest.mark.parametrize("change, message", [
    (lambda m: [m], "store.json: the file must be a JSON object"),
    (lambda m: m["subsets"]["stage_1_train"].update(count="7"), "field subsets.stage_1_train.count must be a whole"),
    (lambda m: m["subsets"]["stage_1_train"].update(count=3), "field subsets.stage_1_train.count is 3, but it lists"),
    (lambda m: m["text"].update(parts=[["clip", "512"]]), "field text.parts must be a list of"),
    (lambda m: m["split"].update(class_names=None), "field split.class_names must be a list of texts, not null"),
])
def test_store_manifest_fields_are_typed(store, change, message):
    edit_json(store / MANIFEST, change)
    with pytest.raises(DataError, match=_regex(message)):
        read_store(store)


# --- what the command line prints -------------------------------------------------------------------------


def test_evaluate_with_a_broken_checkpoint_prints_one_line_and_no_traceback(bundle, good_store):
    """The real entry point in its own process: one line on stderr, exit 2."""
    (bundle / WEIGHTS).write_bytes(b"\x00" * 7 + b"\x7f" + b"junk")
    result = subprocess.run([sys.executable, "-m", "avzsl.evaluate", "--checkpoint", str(bundle), "--data",
                             str(good_store), "--device", "cpu"], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "is not a safetensors file (header too large" in lines[0] and "ERROR avzsl.evaluate" in lines[0]


def test_written_files_have_the_mode_of_the_json_beside_them(good_bundle, tmp_path):
    """Under umask 022 the JSON is 0644; safetensors' own writer made the weights 0600."""
    import os

    old = os.umask(0o022)
    try:
        config = read_config(good_bundle)
        save_checkpoint(tmp_path / "bundle", load_checkpoint(good_bundle).model, config)
        write_store(tmp_path / "store", make_synthetic(SyntheticSpec(scale=0.02, seed=0)))
    finally:
        os.umask(old)
    for folder, json_file in ((tmp_path / "bundle", CONFIG), (tmp_path / "store", MANIFEST)):
        assert stat.S_IMODE((folder / json_file).stat().st_mode) == 0o644
        for path in folder.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


@pytest.mark.parametrize("as_numpy", [False, True])
def test_check_finite_names_the_row_and_accepts_finite_values_whose_sum_overflows(as_numpy):
    """The check's shortcut (a finite sum means finite values) must not decide for it: a sum that overflows
    while every value is finite is accepted, and NaN or infinity anywhere is refused, naming its first row."""
    import torch

    from avzsl.validation import check_finite

    large = torch.full((4, 3), 3e38)  # each finite; their sum overflows to inf in float32
    check_finite(large.numpy() if as_numpy else large, "tensor big", "w.safetensors", ValueError)
    for value in (float("nan"), float("inf"), -float("inf")):
        values = torch.randn(5, 3)
        values[3, 1] = value
        with pytest.raises(ValueError, match=r"tensor x has non-finite values .* in 1 of 5 rows, the first row 3"):
            check_finite(values.numpy() if as_numpy else values, "tensor x", "w.safetensors", ValueError)
    mixed = torch.full((2, 2), 3e38)
    mixed[1, 0] = float("nan")  # the sum is inf, not NaN: the element-wise check must still find the row
    with pytest.raises(ValueError, match="the first row 1"):
        check_finite(mixed.numpy() if as_numpy else mixed, "tensor m", "w.safetensors", ValueError)
