"""Small I/O pieces every part of avzsl shares: the error base class, atomic writes and the cache folder.

    >>> import json, tempfile
    >>> from avzsl.io import atomic_write_json
    >>> path = Path(tempfile.mkdtemp()) / "settings.json"
    >>> atomic_write_json(path, {"a": 1})       # a reader sees the old file or the new one, never half of one
    >>> json.loads(path.read_text())
    {'a': 1}
    >>> sorted(p.name for p in path.parent.iterdir())   # no temporary file left behind
    ['settings.json']

Atomic writes go to a new file beside the target (same file system, so the final `os.replace` is atomic)
and are moved into place only when complete: an interrupted run never leaves half a file. The temporary
file is created with mode 0o666, which the kernel reduces by the process umask exactly as for a plain
`open()`: stores and checkpoints stay readable by a team, and the umask is never changed (changing it is
process-wide and races with other threads). Some writers replace the file they are given with one of their
own (safetensors writes a private 0600 file and renames it), so that mode is put back before the move:
every file avzsl writes has the mode of the JSON beside it.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

CACHE_DIR_ENV = "AVZSL_CACHE_DIR"


class AvzslError(Exception):
    """Base of every error avzsl raises for bad input; its message is one line fit to show a user.

    The command-line entry points catch it and print the message, never a traceback.
    """


def cache_dir() -> Path:
    """avzsl's cache folder: $AVZSL_CACHE_DIR, default ~/.cache/avzsl (weights, label texts, maps)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "avzsl")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` to fill a temporary file beside `path`, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies, as for open()
    mode = os.stat(tmp).st_mode & 0o777  # what a plain open() gives under this umask
    try:
        write(tmp)
        if os.stat(tmp).st_mode & 0o777 != mode:  # the writer made a file of its own (safetensors: 0600)
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_bytes(path, strict_json(obj, indent=2).encode("utf-8") + b"\n")


def strict_json(obj, **dumps_options) -> str:
    """json.dumps, but strict JSON: a NaN or infinite float is written null (Python would write a bare NaN,
    which no other JSON reader accepts)."""
    return json.dumps(_finite(obj), allow_nan=False, **dumps_options)


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def atomic_save_tensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """A safetensors file of numpy arrays or torch tensors (not mixed), written atomically."""
    first = next(iter(tensors.values()), None)
    if first is not None and type(first).__module__.startswith("torch"):
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    else:
        import numpy as np
        from safetensors.numpy import save_file

        tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except Exception as e:  # safetensors' own error type even for a full disk ("... (os error 28)")
            found = re.search(r"os error (\d+)", str(e))
            if not found:
                raise
            code = int(found.group(1))  # an OSError, as for open()
            raise OSError(code, os.strerror(code), str(path)) from e

    atomic_write(path, write)


MAX_INTEGER_DIGITS = 100  # far beyond any count, size, offset or seed avzsl writes; Python stops at 4300


def read_json(path: str | os.PathLike, error: type[AvzslError], what: str = "file"):
    """`parse_json` of a file; a missing file is `error` naming it as well."""
    path = Path(path)
    try:
        text = path.read_bytes()  # json.loads decodes UTF-8 (and -16, -32); a bad byte is refused below
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    return parse_json(text, error, str(path))


def parse_json(text: str | bytes, error: type[AvzslError], where: str):
    """json.loads of a file nobody vouches for, where anything but JSON is `error` naming `where` in one line: also
    integers of more than MAX_INTEGER_DIGITS digits and nesting deeper than Python's recursion limit, for which
    json.loads raises a bare ValueError or RecursionError. (NaN and infinities are read: the field checks of
    avzsl/validation.py refuse them, naming the field.)"""
    def refuse(problem: str):
        raise error(f"{where} is not valid JSON: {problem}")

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
            refuse(f"an integer of {len(digits.lstrip('-')):,} digits")
        return int(digits)

    try:
        return json.loads(text, parse_int=integer)
    except RecursionError:
        refuse("it is nested too deeply")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        refuse(str(e))
