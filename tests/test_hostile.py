"""One table of hostile files, run through every command that reads them: `evaluate`, `predict`, `train` and
the app's checkpoint catalog. Each is bad input: exit 2 with one line naming the damaged file in every
command (never exit 1, "a bug", or a traceback); the catalog lists the folder with that line as its problem."""

from __future__ import annotations

import json
import logging
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "piano.mp3"
CHECKPOINT, STORE = "checkpoint", "store"  # the two folders a case can damage


def _deep(path: Path) -> None:
    path.write_text('{"a": ' + "[" * 200_000 + "]" * 200_000 + "}")


def _edit_json(change):
    """Damage a JSON file with `change(raw)`, which edits the parsed object in place."""
    def damage(path: Path) -> None:
        raw = json.loads(path.read_text())
        change(raw)
        path.write_text(json.dumps(raw))
    return damage


def _with_number(key: str, number: str):
    """Set the top-level field `key` to a raw JSON number text (one that json.dumps would not write)."""
    def damage(path: Path) -> None:
        raw = json.loads(path.read_text())
        raw[key] = "@"
        path.write_text(json.dumps(raw).replace('"@"', number))
    return damage


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _header_text(path: Path, edit) -> None:
    """Rewrite a safetensors file's JSON header with `edit(text) -> text`, keeping its data."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = edit(data[8:8 + length].decode()).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + data[8 + length:])


def _duplicate_field(path: Path) -> None:
    """The first tensor entry names its dtype twice: readers that keep the last value disagree with others."""
    _header_text(path, lambda text: text.replace('"dtype":"F32"', '"dtype":"I64","dtype":"F32"', 1))


def _deep_header(path: Path) -> None:
    _header_text(path, lambda text: text[:-1] + ',"__metadata__":{"a":' + "[" * 100_000 + "]" * 100_000 + "}}")


def _huge_offset(path: Path) -> None:
    _header_text(path, lambda text: text.replace('"data_offsets":[0,', '"data_offsets":[' + "9" * 5000 + ",", 1))


def _non_finite_tensor(path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(path)
    name = next(k for k in sorted(tensors) if tensors[k].dtype == np.float32 and tensors[k].size > 1)
    tensors[name][-1] = np.inf  # inf, not NaN: a check that looks for NaN alone misses it
    save_file(tensors, path)


# (id, folder, file, damage); each goes through every command that reads the file (READERS).
CASES = [
    ("config-nested-200000-deep", CHECKPOINT, "config.json", _deep),
    ("config-integer-of-5000-digits", CHECKPOINT, "config.json", _with_number("seed", "1" * 5000)),
    ("config-NaN", CHECKPOINT, "config.json", _with_number("best_epoch", "NaN")),
    ("config-overflowing-float", CHECKPOINT, "config.json", _with_number("seed", "1e999")),
    ("config-truncated", CHECKPOINT, "config.json", _truncate),
    ("config-gamma-is-text", CHECKPOINT, "config.json", _edit_json(lambda raw: raw["calibration"].update(gamma="high"))),
    ("config-not-an-object", CHECKPOINT, "config.json", lambda path: path.write_text("[1, 2]")),
    ("config-not-utf8", CHECKPOINT, "config.json", lambda path: path.write_bytes(b'{"\xff": 1}')),
    ("metrics-nested-200000-deep", CHECKPOINT, "metrics.json", _deep),
    ("metrics-integer-of-5000-digits", CHECKPOINT, "metrics.json",
     lambda path: path.write_text('{"test": {"S": ' + "7" * 5000 + "}}")),
    ("weights-truncated", CHECKPOINT, "model.safetensors", _truncate),
    ("weights-duplicate-header-field", CHECKPOINT, "model.safetensors", _duplicate_field),
    ("weights-header-nested-100000-deep", CHECKPOINT, "model.safetensors", _deep_header),
    ("weights-offset-of-5000-digits", CHECKPOINT, "model.safetensors", _huge_offset),
    ("weights-holding-inf", CHECKPOINT, "model.safetensors", _non_finite_tensor),
    ("weights-empty", CHECKPOINT, "model.safetensors", lambda path: path.write_bytes(b"")),
    ("store-nested-200000-deep", STORE, "store.json", _deep),
    ("store-integer-of-5000-digits", STORE, "store.json", _with_number("schema_version", "1" * 5000)),
    ("store-Infinity", STORE, "store.json", _edit_json(lambda raw: raw["text"]["parts"][0].__setitem__(1, 1e400))),
    ("store-truncated", STORE, "store.json", _truncate),
    ("store-count-is-text", STORE, "store.json",
     _edit_json(lambda raw: raw["subsets"]["stage_1_train"].update(count="many"))),
    ("features-truncated", STORE, "features.safetensors", _truncate),
    ("features-duplicate-header-field", STORE, "features.safetensors", _duplicate_field),
    ("features-header-nested-100000-deep", STORE, "features.safetensors", _deep_header),
    ("features-holding-inf", STORE, "features.safetensors", _non_finite_tensor),
]

READERS = {"config.json": ("evaluate", "predict", "catalog"), "metrics.json": ("predict", "catalog"),
           "model.safetensors": ("evaluate", "predict", "catalog"), "store.json": ("evaluate", "train"),
           "features.safetensors": ("evaluate", "train")}
TABLE = [pytest.param(case, command, id=f"{case[0]}-{command}") for case in CASES for command in READERS[case[2]]]


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A tiny ClipClap checkpoint (folder CHECKPOINT) and a feature store it fits (folder STORE), both whole,
    of the random encoders' sizes (so predict can use the checkpoint)."""
    import torch

    from avzsl.data.store import write_store
    from avzsl.data.synthetic import ENCODER_DIMS, SyntheticSpec, make_synthetic
    from avzsl.models.registry import get_recipe
    from avzsl.training.run import train

    root = tmp_path_factory.mktemp("whole")
    data = make_synthetic(SyntheticSpec(scale=0.05, **ENCODER_DIMS))
    write_store(root / STORE, data)
    recipe = get_recipe("clipclap", data.name, training_overrides={"epochs": 1, "batches_per_epoch": 2})
    train(recipe, data, root / CHECKPOINT, device=torch.device("cpu"), progress=False)
    return root


def run(command: str, root: Path, tmp_path: Path) -> tuple[int, list[str]]:
    """Run `command` on the folders under `root`: (exit code, the error lines it logged)."""
    checkpoint, store = str(root / CHECKPOINT), str(root / STORE)
    if command == "catalog":
        return _catalog(root)
    if command == "evaluate":
        from avzsl.evaluate import main
        argv = ["--checkpoint", checkpoint, "--data", store, "--device", "cpu"]
    elif command == "predict":
        from avzsl.predict import main
        argv = [str(EXAMPLE), "--labels", "piano, dog", "--checkpoint", checkpoint, "--encoders", "random",
                "--device", "cpu"]
    else:
        from avzsl.train import main
        argv = ["--data", store, "--out", str(tmp_path / "run"), "--epochs", "1", "--batches-per-epoch", "1",
                "--no-progress", "--device", "cpu"]
    return main(argv), []


def _catalog(root: Path) -> tuple[int, list[str]]:
    """The app's listing of a checkpoints folder holding CHECKPOINT: 0 when it is usable and loads, else 2 with
    the reason the catalog gives (when listed, or when loading it)."""
    from avzsl.models.checkpoint import CheckpointError
    from avzsl.serving.catalog import Catalog

    catalog = Catalog(root)
    (model_id,) = catalog.ids()
    entry = catalog.entry(model_id)
    if entry.problem:
        return 2, [entry.problem]
    try:
        catalog.load(entry, "cpu")
    except CheckpointError as e:
        return 2, [str(e)]
    return 0, []


def logged_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("command", ["evaluate", "predict", "catalog", "train"])
def test_the_whole_files_pass(good, tmp_path, caplog, command):
    """The table's baseline: without damage every command succeeds, so an exit 2 below is the damage's."""
    assert run(command, good, tmp_path) == (0, [])
    assert not logged_errors(caplog)


@pytest.mark.parametrize("case, command", TABLE)
def test_a_hostile_file_is_bad_input_in_every_command(good, tmp_path, caplog, case, command):
    _, folder, name, damage = case
    root = tmp_path / "copy"
    shutil.copytree(good / folder, root / folder)
    (root / (STORE if folder == CHECKPOINT else CHECKPOINT)).symlink_to(good / (STORE if folder == CHECKPOINT
                                                                                 else CHECKPOINT))
    damage(root / folder / name)
    with caplog.at_level(logging.ERROR):
        code, problems = run(command, root, tmp_path)
    lines = problems or logged_errors(caplog)
    assert code == 2, lines
    assert len(lines) == 1 and "\n" not in lines[0] and len(lines[0]) < 600, lines
    assert name in lines[0] and "a bug" not in lines[0], lines[0]
    assert "Traceback" not in caplog.text
