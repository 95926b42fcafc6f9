"""Every script in benchmarks/ answers --help (the project's rule for every command), in a process of its own."""

from __future__ import annotations

import os

import pytest

from tests.helpers import ROOT, Child

BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))


def test_there_are_benchmarks():
    assert len(BENCHMARKS) >= 8


@pytest.fixture(scope="module")
def help_runs():
    """Every script's `--help`, all started at once (several import torch and the encoders before parsing, a
    few seconds each): {script: Child}, each read by its own test below."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = {script: Child(str(script), "--help", env=env) for script in BENCHMARKS}
    yield runs
    for run in runs.values():
        run.stop()


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_answers_help(script, help_runs):
    run = help_runs[script].result(timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("usage:") and "--help" in run.stdout


def test_reference_speed_edits_a_copy_of_the_official_code_and_lists_the_edits(tmp_path):
    """benchmarks/reference_speed.py never changes the clone it is given, and says what it changed in its copy."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_speed", ROOT / "benchmarks" / "reference_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    clone = tmp_path / "clone"
    (clone / "src").mkdir(parents=True)
    (clone / ".git").mkdir()
    old_call = "ReduceLROnPlateau(self.optimizer_gen, 'max', patience=3, verbose=True)"
    (clone / "src" / "clipclap_model.py").write_text(f"scheduler = {old_call}\n")
    edits = module.compatible_copy(clone, tmp_path / "copy")
    assert len(edits) == 1 and "verbose" in edits[0]
    assert (tmp_path / "copy" / "src" / "clipclap_model.py").read_text() == (
        "scheduler = ReduceLROnPlateau(self.optimizer_gen, 'max', patience=3)\n")
    assert (clone / "src" / "clipclap_model.py").read_text() == f"scheduler = {old_call}\n"  # the clone is untouched
    assert not (tmp_path / "copy" / ".git").exists()
    assert module.compatible_copy(tmp_path / "copy", tmp_path / "again") == []  # nothing left to edit
