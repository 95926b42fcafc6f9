"""Every command-line entry point goes through avzsl.cli.entry_point: one line and a non-zero exit for bad
input (AvzslError), for OS errors (disk full, permission denied), and for a bug (with a hint to rerun with
--debug, which shows the traceback instead)."""

from __future__ import annotations

import errno
import importlib
import importlib.util
import logging
import sys
from pathlib import Path

import pytest

from avzsl.io import AvzslError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app.py

# module, the function main() calls first (replaced here to raise), arguments main accepts
ENTRY_POINTS = [("avzsl.train", "build_parser", ["--synthetic"]), ("avzsl.evaluate", "build_parser", []),
                ("avzsl.predict", "build_parser", []), ("avzsl.extract", "build_parser", []),
                ("avzsl.synthetic_media", "write_labelled_folder", ["out"]), ("avzsl.download", "build_parser", []),
                ("app", "parse_args", [])]


def raising(error):
    def fail(*args, **kwargs):
        raise error
    return fail


@pytest.fixture(params=ENTRY_POINTS, ids=[e[0] for e in ENTRY_POINTS])
def entry(request, monkeypatch):
    module_name, first_call, argv = request.param
    if module_name == "app":
        spec = importlib.util.spec_from_file_location("app_entry", ROOT / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    return module, lambda error: monkeypatch.setattr(module, first_call, raising(error)), argv


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_list_holds_every_command():
    """Every `python -m avzsl.X` (a module that runs main() as a script) is in ENTRY_POINTS, so none is left
    unwrapped when a command is added."""
    commands = {".".join(path.relative_to(ROOT).with_suffix("").parts) for path in (ROOT / "avzsl").rglob("*.py")
                if 'if __name__ == "__main__":' in path.read_text()}
    assert commands and commands <= {module for module, _, _ in ENTRY_POINTS}


def test_every_entry_point_is_wrapped(entry):
    module, _, _ = entry
    assert module.main.__wrapped__  # functools.wraps of entry_point


@pytest.mark.parametrize("error, code, expected", [
    (AvzslError("the data set is broken"), 2, "the data set is broken"),
    (OSError(errno.ENOSPC, "No space left on device", "/big/out/model.safetensors"), 2,
     "No space left on device: /big/out/model.safetensors; free some space and run the same command again"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/secret"), 2, "Permission denied: /root/secret"),
    (RuntimeError("shape mismatch\nin layer 3"), 1,
     "unexpected error RuntimeError: shape mismatch in layer 3 (a bug: rerun with --debug for the traceback"),
])
def test_each_failure_is_one_line_and_a_non_zero_exit(entry, caplog, error, code, expected):
    module, make_fail, argv = entry
    make_fail(error)
    assert module.main(argv) == code
    assert len(errors(caplog)) == 1 and expected in errors(caplog)[0]
    assert "Traceback" not in caplog.text


def test_debug_shows_the_traceback_instead(entry):
    module, make_fail, argv = entry
    make_fail(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        module.main([*argv, "--debug"])
