"""Options shared by the command-line tools."""

from __future__ import annotations

import pytest

from avzsl.cli import pick_threads


def test_threads_follow_the_request_else_the_machines_load():
    assert pick_threads(3, load=0.0, cores=2) == 3  # asked for: given, busy or not
    assert pick_threads(None, load=0.5, cores=2) is None  # idle: torch's own default (a thread per core)
    assert pick_threads(None, load=2.0, cores=2) == 1  # as busy as it has cores: one thread
    assert pick_threads(None, load=9.0, cores=1) is None  # one core: nothing to choose
    with pytest.raises(SystemExit, match="at least 1"):
        pick_threads(0)
