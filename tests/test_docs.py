"""The usage examples in module docstrings run, and say what they print (doctest, from the repository root).

Random-weight encoders keep them offline; files they name are the repository's SYNTHETIC examples.
"""

from __future__ import annotations

import doctest
import importlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Modules whose docstring shows how to use them: each must carry at least one executed example.
DOCUMENTED = ["avzsl.io", "avzsl.models.scoring", "avzsl.serving.service", "avzsl.models.checkpoint", "avzsl.encoders", "avzsl.media",
              "avzsl.encoders.presets", "app.handlers", "avzsl.serving.catalog", "avzsl.encoders.dims", "avzsl.data.provenance",
              "avzsl.serving.result"]


def all_modules() -> list[str]:
    names = []
    for package in ("avzsl", "app"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            names.append(module.removesuffix(".__init__"))
    return names


@pytest.mark.parametrize("name", all_modules())
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed (see above)"
    if name in DOCUMENTED:
        assert result.attempted > 0, f"{name}'s docstring has no executed example"


def test_every_documented_module_exists():
    assert set(DOCUMENTED) <= set(all_modules())
    assert os.path.isdir(ROOT / "examples")
