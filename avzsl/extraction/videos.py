"""Finding the labelled videos of a collection: one folder per class, or a CSV of (video file, class)."""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from avzsl.data.errors import DataError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".flv", ".ogv", ".3gp", ".wmv", ".ts"}
)
_FILE_COLUMNS = ("video", "file", "filename", "path")
_CLASS_COLUMNS = ("class", "label")


@dataclass(frozen=True)
class LabelledVideo:
    video_id: str  # unique within the collection: the file name without suffix, or the relative path
    path: str  # relative to the videos folder, POSIX separators
    class_name: str


def find_videos(videos_dir: str | Path, labels_csv: str | Path | None = None) -> list[LabelledVideo]:
    """The collection's videos, sorted by path, with unique ids.

    Without `labels_csv`, every sub-folder of `videos_dir` is a class and holds that class's videos (at any
    depth). With it, the CSV's rows name a video file (relative to `videos_dir`) and its class: columns
    `video`/`file`/`filename`/`path` and `class`/`label`, or two unnamed columns.
    """
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise DataError(f"videos folder {videos_dir} does not exist")
    pairs = _read_labels_csv(Path(labels_csv), videos_dir) if labels_csv else _scan_class_folders(videos_dir)
    if not pairs:
        where = f"{labels_csv}" if labels_csv else f"the class folders of {videos_dir}"
        raise DataError(f"no videos found in {where} (video files end in {', '.join(sorted(VIDEO_SUFFIXES))})")
    pairs.sort()
    stems = Counter(PurePosixPath(path).stem for path, _ in pairs)
    videos, seen = [], set()
    for path, class_name in pairs:
        if path in seen:
            raise DataError(f"{path} is listed twice")
        seen.add(path)
        stem = PurePosixPath(path).stem
        # The benchmark's ids are file stems (v_Archery_g01_c01); fall back to the path when stems collide.
        video_id = stem if stems[stem] == 1 else str(PurePosixPath(path).with_suffix(""))
        videos.append(LabelledVideo(video_id, path, class_name))
    return videos


def _scan_class_folders(videos_dir: Path) -> list[tuple[str, str]]:
    pairs, loose = [], 0
    for entry in sorted(videos_dir.iterdir()):
        if entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
            loose += 1
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        for file in sorted(entry.rglob("*")):
            if file.is_file() and file.suffix.lower() in VIDEO_SUFFIXES and not file.name.startswith("."):
                pairs.append((file.relative_to(videos_dir).as_posix(), entry.name))
    if loose:
        log.warning("%d video file(s) directly in %s belong to no class folder and are ignored", loose, videos_dir)
    return pairs


def _read_labels_csv(path: Path, videos_dir: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise DataError(f"labels CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"labels CSV {path} is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    file_col = next((header.index(c) for c in _FILE_COLUMNS if c in header), None)
    class_col = next((header.index(c) for c in _CLASS_COLUMNS if c in header), None)
    has_header = file_col is not None and class_col is not None
    if has_header:
        rows = rows[1:]
    elif len(header) >= 2 and PurePosixPath(rows[0][0].strip()).suffix.lower() in VIDEO_SUFFIXES:
        file_col, class_col = 0, 1  # no header: (video file, class)
    else:
        raise DataError(
            f"labels CSV {path}: name the columns {'/'.join(_FILE_COLUMNS)} and {'/'.join(_CLASS_COLUMNS)}, "
            "or give two unnamed columns (video file, class)"
        )
    pairs, missing = [], []
    for line, row in enumerate(rows, start=2 if has_header else 1):
        if len(row) <= max(file_col, class_col) or not row[file_col].strip() or not row[class_col].strip():
            raise DataError(f"labels CSV {path}, row {line}: a video file and a class are needed, got {row}")
        file, class_name = row[file_col].strip(), row[class_col].strip()
        if not (videos_dir / file).is_file():
            missing.append(file)
            continue
        pairs.append((PurePosixPath(Path(file).as_posix()).as_posix(), class_name))
    if missing:
        log.warning("%d video file(s) listed in %s do not exist under %s and are skipped, e.g. %s",
                    len(missing), path, videos_dir, missing[:3])
    return pairs
