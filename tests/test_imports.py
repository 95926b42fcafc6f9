"""The folders of avzsl/ import each other one way only: no two folders import each other (issue 24, item 4).

Read from the source with `ast` (nothing is imported), so imports inside functions count too.
"""

from __future__ import annotations

import ast
import functools
import itertools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "avzsl"
FOLDERS = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())



@functools.lru_cache(maxsize=None)
def folder_imports() -> dict[tuple[str, str], list[str]]:
    """(importing folder, imported folder) -> the 'file -> module' lines that make that link."""
    links: dict[tuple[str, str], list[str]] = {}
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(PACKAGE).parts
        if len(parts) < 2:  # a module at the top of avzsl/, not in a folder
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                names = module.split(".")
                if names[0] == "avzsl" and len(names) > 1 and names[1] in FOLDERS and names[1] != parts[0]:
                    links.setdefault((parts[0], names[1]), []).append(f"{'/'.join(parts)} -> {module}")
    return links


def test_the_folders_are_found_and_import_each_other():
    assert {"training", "report", "models", "data", "maps", "serving", "encoders", "extraction"} <= set(FOLDERS)
    assert ("training", "models") in folder_imports()  # the scan sees real imports


@pytest.mark.parametrize("pair", list(itertools.combinations(FOLDERS, 2)), ids="-".join)
def test_no_two_way_link(pair):
    a, b = pair
    links = folder_imports()
    assert not ((a, b) in links and (b, a) in links), f"{a}/ and {b}/ import each other: {links[a, b]} and {links[b, a]}"
