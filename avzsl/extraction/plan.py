"""Which class is seen or unseen, and which GZSL subset each video belongs to.

The benchmark's design (reference §1.4), reproduced here for any collection of labelled videos:

- classes are *seen* (stage-1 training), *validation-unseen* or *test-unseen*; stage 2 trains on the seen and
  validation-unseen classes together;
- each stage-2 training class keeps 10% of its videos for `stage_2_test_seen`;
- each seen class splits the other 90% into 90% `stage_1_train` and 10% `stage_1_val_seen`;
- the remaining videos of a validation-unseen class are `stage_1_val_unseen`, and every video of a
  test-unseen class is `stage_2_test_unseen`.

Class roles come either from a split folder (the benchmark's `stage_*.txt` lists) or from a seeded random
draw. Video assignment uses the split folder's per-video `stage_*.csv` files when it has them (the
benchmark's own assignment), else a seeded draw with the ratios above. The draw is made when the chunks
are merged, over the videos that were extracted successfully: a damaged file then never leaves a class
without its held-out videos. The plan is plain data (JSON) so that every run of an extraction, and every
worker of a cluster, works from the same one.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from avzsl.data.errors import DataError
from avzsl.data.features import SAMPLE_SUBSETS
from avzsl.data.splits import ClassSplit, load_class_split
from avzsl.extraction.videos import LabelledVideo

HELD_OUT_FRACTION = 0.1  # of a class's videos, at each of the two 90/10 cuts
DEFAULT_CLASS_FRACTIONS = (0.5, 0.25, 0.25)  # seen, validation-unseen, test-unseen (ActivityNet, VGGSound)


@dataclass(frozen=True)
class PlannedVideo:
    video_id: str
    path: str  # relative to the videos folder
    class_id: int  # global class index of the split
    subset: str | None  # one of SAMPLE_SUBSETS; None until the seeded draw assigns it (see `assign`)


@dataclass
class ExtractionPlan:
    split: ClassSplit
    videos: list[PlannedVideo]  # every video to extract, sorted by id (for the seeded draw: no subset yet)
    source: dict = field(default_factory=dict)  # how classes and videos are assigned, for provenance

    def assign(self, available: set[str] | None = None) -> list[PlannedVideo]:
        """The videos of `available` (default: all) with their subsets, in store order (subset, id).

        Raises DataError when a class has too few of them for its role.
        """
        videos = [v for v in self.videos if available is None or v.video_id in available]
        if self.source.get("video_seed") is not None:
            by_class: dict[int, list[PlannedVideo]] = defaultdict(list)
            for v in videos:
                by_class[v.class_id].append(v)
            videos = _assign_randomly(by_class, self.split, self.source["video_seed"])
        order = {name: i for i, name in enumerate(SAMPLE_SUBSETS)}
        return sorted(videos, key=lambda v: (order[v.subset], v.video_id))

    def to_dict(self) -> dict:
        return {
            "split": self.split.to_dict(),
            "source": self.source,
            "videos": [[v.video_id, v.path, v.class_id, v.subset] for v in self.videos],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ExtractionPlan:
        return cls(ClassSplit.from_dict(d["split"]), [PlannedVideo(*row) for row in d["videos"]], d["source"])


def plan_from_split_folder(videos: list[LabelledVideo], split_dir: str | Path, seed: int = 0) -> ExtractionPlan:
    """Class roles from `split_dir` (all_class.txt + stage_*.txt); videos by its stage_*.csv files or `seed`."""
    split = load_class_split(Path(split_dir))
    class_ids, unknown = {}, []
    for name in sorted({v.class_name for v in videos}):
        try:
            class_ids[name] = split.index(name)
        except DataError:
            unknown.append(name)
    if unknown:
        raise DataError(
            f"{len(unknown)} class(es) of the videos are not in {split_dir}/all_class.txt, e.g. {unknown[:5]}; "
            "is this the right split folder?"
        )
    per_video = _read_per_video_lists(Path(split_dir))
    if per_video is not None:
        planned = _assign_from_lists(videos, class_ids, split, per_video)
        source = {"kind": "split-folder", "path": str(split_dir), "videos": "per-video stage_*.csv lists"}
    else:
        planned = _unassigned(videos, class_ids, split)
        source = {"kind": "split-folder", "path": str(split_dir), "videos": "seeded 90/10 draw", "video_seed": seed}
    source["videos_not_used"] = len(videos) - len(planned)
    return _checked_plan(split, planned, source)


def plan_random_split(videos: list[LabelledVideo], seed: int, dataset: str,
                      class_fractions: tuple[float, float, float] = DEFAULT_CLASS_FRACTIONS) -> ExtractionPlan:
    """Draw seen / validation-unseen / test-unseen classes with `seed`, then the 90/10 video splits."""
    if len(class_fractions) != 3 or any(f <= 0 for f in class_fractions):
        raise ValueError(f"class fractions must be three positive numbers, not {class_fractions}")
    names = tuple(sorted({v.class_name for v in videos}))
    if len(names) < 3:
        raise DataError(f"a random GZSL split needs at least 3 classes (seen, validation-unseen, test-unseen); "
                        f"the videos have {len(names)}: {list(names)}")
    k, total = len(names), sum(class_fractions)
    n_test = min(max(1, round(k * class_fractions[2] / total)), k - 2)  # leave one class for each other role
    n_val = min(max(1, round(k * class_fractions[1] / total)), k - 1 - n_test)
    order = np.random.default_rng(seed).permutation(len(names))
    test_unseen, val_unseen, seen = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    lists = {
        "stage_1_train": seen, "stage_1_val_seen": seen, "stage_1_val_unseen": val_unseen,
        "stage_2_train": np.union1d(seen, val_unseen), "stage_2_test_seen": np.union1d(seen, val_unseen),
        "stage_2_test_unseen": test_unseen,
    }
    split = ClassSplit(
        dataset,
        names,
        tuple(name.replace("_", " ").strip() for name in names),  # folder names often spell spaces as _
        {name: tuple(sorted(int(i) for i in ids)) for name, ids in lists.items()},
    )
    source = {"kind": "random-split", "seed": seed, "class_fractions": list(class_fractions),
              "videos": "seeded 90/10 draw", "video_seed": [seed, 1], "videos_not_used": 0}
    # [seed, 1]: a generator of its own for the videos, so that the class draw alone decides the roles
    return _checked_plan(split, _unassigned(videos, {name: i for i, name in enumerate(names)}, split), source)


def _unassigned(videos: list[LabelledVideo], class_ids: dict[str, int], split: ClassSplit) -> list[PlannedVideo]:
    """The videos of classes that have a role in the split, subsets still to be drawn."""
    roles = set().union(*(set(ids) for ids in split.lists.values()))
    return [PlannedVideo(v.video_id, v.path, class_ids[v.class_name], None) for v in videos
            if class_ids[v.class_name] in roles]


def _assign_randomly(by_class: dict[int, list[PlannedVideo]], split: ClassSplit, seed) -> list[PlannedVideo]:
    seen, val_unseen, test_unseen, stage_2_train = (set(split.lists[name]) for name in (
        "stage_1_train", "stage_1_val_unseen", "stage_2_test_unseen", "stage_2_train"))
    too_few, planned = [], []
    for class_id in sorted(seen | val_unseen | test_unseen):
        videos = sorted(by_class.get(class_id, []), key=lambda v: v.video_id)
        # A generator per class: a video that fails to extract changes the draw of its own class only.
        rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), class_id])
        order = [videos[i] for i in rng.permutation(len(videos))]
        if class_id in test_unseen:
            parts = {"stage_2_test_unseen": order}
        elif class_id in stage_2_train:
            n_test = max(1, round(HELD_OUT_FRACTION * len(order)))
            test, rest = order[:n_test], order[n_test:]
            if class_id in seen:
                n_val = max(1, round(HELD_OUT_FRACTION * len(rest)))
                parts = {"stage_2_test_seen": test, "stage_1_val_seen": rest[:n_val], "stage_1_train": rest[n_val:]}
            else:
                parts = {"stage_2_test_seen": test, "stage_1_val_unseen": rest}
        else:
            raise DataError(f"class {split.class_names[class_id]} is seen in stage 1 but not trained on in stage 2")
        if any(not members for members in parts.values()):
            need = 3 if class_id in seen else 2 if class_id in val_unseen else 1
            too_few.append(f"{split.class_names[class_id]} ({len(videos)} of the {need} needed)")
            continue
        planned += [PlannedVideo(v.video_id, v.path, class_id, subset) for subset, vs in parts.items() for v in vs]
    if too_few:
        raise DataError(
            f"{len(too_few)} class(es) have too few videos for their role (a seen class needs 3: train, "
            f"validation, test; a validation-unseen class 2; a test-unseen class 1): {', '.join(too_few[:10])}"
        )
    return planned


def _read_per_video_lists(split_dir: Path) -> dict[str, set[str]] | None:
    """video ids per sample subset from the benchmark's stage_*.csv files, or None when there are none."""
    folder = split_dir / "cls_split" if (split_dir / "cls_split").is_dir() else split_dir
    if not any((folder / f"{name}.csv").is_file() for name in SAMPLE_SUBSETS):
        return None
    lists = {}
    for name in SAMPLE_SUBSETS:
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise DataError(f"{folder} has per-video lists for some subsets but not {path.name}")
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if "filename" not in (reader.fieldnames or []):
                raise DataError(f"{path} has no 'filename' column")
            lists[name] = {PurePosixPath(row["filename"]).stem for row in reader}
    return lists


def _assign_from_lists(videos: list[LabelledVideo], class_ids: dict[str, int], split: ClassSplit,
                       per_video: dict[str, set[str]]) -> list[PlannedVideo]:
    subset_of = {video_id: name for name in SAMPLE_SUBSETS for video_id in per_video[name]}
    planned = []
    for v in videos:
        subset = subset_of.get(v.video_id) or subset_of.get(PurePosixPath(v.path).stem)
        # the benchmark's cls filter: a video is kept when its class is on its subset's class list
        if subset is not None and class_ids[v.class_name] in split.lists[subset]:
            planned.append(PlannedVideo(v.video_id, v.path, class_ids[v.class_name], subset))
    if not planned:
        raise DataError("none of the videos is named in the split folder's stage_*.csv lists")
    return planned


def _checked_plan(split: ClassSplit, planned: list[PlannedVideo], source: dict) -> ExtractionPlan:
    plan = ExtractionPlan(split, sorted(planned, key=lambda v: v.video_id), source)
    plan.assign()  # fail now, before any extraction, when a class has too few videos for its role
    return plan
