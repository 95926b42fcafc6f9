"""Open any supported feature data set: an avzsl store or a ClipClap release data set root."""

from __future__ import annotations

import logging
from pathlib import Path

from avzsl.data.errors import DataError
from avzsl.data.features import GZSLData
from avzsl.data.release import is_release, read_release
from avzsl.data.store import is_store, read_store

log = logging.getLogger(__name__)


def open_data(path: str | Path, dataset: str | None = None, *, text_alignment: str = "by-name") -> GZSLData:
    """Read `path`, detecting its kind. `text_alignment` applies to releases (stores record their own)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data path {path} does not exist")
    if is_store(path):
        data = read_store(path)
        if dataset is not None and dataset != data.name:
            raise DataError(f"{path} holds {data.name}, not {dataset}")
        if text_alignment != "by-name":
            raise DataError("--text-alignment only applies to release data; a store's text is aligned by name")
        return data
    if is_release(path):
        log.warning("reading the ClipClap release from %s: it is a pickle-based format; avzsl only lets it "
                    "rebuild numpy arrays, but read only data you trust", path)
        return read_release(path, dataset, text_alignment=text_alignment)
    if dataset is not None and is_release(path / dataset):
        return open_data(path / dataset, dataset, text_alignment=text_alignment)
    raise DataError(
        f"{path} is neither an avzsl feature store (store.json) nor a ClipClap release data set root "
        "(class-split/all_class.txt and features/)"
    )
