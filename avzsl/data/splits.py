"""The benchmark's class splits (UCF-, ActivityNet- and VGGSound-GZSL^cls).

A class is identified by its global index: its position in the case-sensitive, code-point sorted
`all_class.txt` (reference §1.3). Split lists name classes in the spelling of the per-video CSVs, which can
differ from `all_class.txt` in case only (UCF `HandStandPushups` vs `HandstandPushups`), so names are
matched exactly first and case-insensitively second.

The cls split lists of the three benchmarks ship with the package (`avzsl/data/splits/<Dataset>/`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from avzsl.data.errors import DataError

BUNDLED_SPLITS = Path(__file__).parent / "splits"
BENCHMARKS = ("UCF", "ActivityNet", "VGGSound")

# The six class lists of a split (stage_1_val_seen == stage_1_train and stage_2_test_seen ==
# stage_2_train in the benchmark; they are still read separately, as the reference does).
SPLIT_LISTS = (
    "stage_1_train",
    "stage_1_val_seen",
    "stage_1_val_unseen",
    "stage_2_train",
    "stage_2_test_seen",
    "stage_2_test_unseen",
)

# Which name CSV holds the text fed to the encoders, and which column (reference §3.1).
PROMPT_NAME_COLUMNS = {
    "UCF": ("ucf_clip_class_names.csv", "clip_class_name"),
    "ActivityNet": ("activitynet_w2v_class_names.csv", "manual"),
    "VGGSound": ("vggsound_w2v_class_names.csv", "manual"),
}


@dataclass(frozen=True)
class ClassSplit:
    """Class names, the text used to prompt the encoders, and the six split lists as global indices."""

    dataset: str
    class_names: tuple[str, ...]  # K_all names, sorted case-sensitively: index = global class id
    prompt_names: tuple[str, ...]  # K_all strings fed to the text encoders (cleaned names)
    lists: dict[str, tuple[int, ...]]  # split list name -> sorted global class ids

    def __post_init__(self):
        if list(self.class_names) != sorted(self.class_names):
            raise DataError("class names must be sorted case-sensitively (reference §1.3)")
        if len(self.prompt_names) != len(self.class_names):
            raise DataError("one prompt name per class is needed")
        missing = [name for name in SPLIT_LISTS if name not in self.lists]
        if missing:
            raise DataError(f"split of {self.dataset} lacks the class lists {missing}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def index(self, name: str) -> int:
        """Global id of a class name, matched exactly, else case-insensitively."""
        return _name_index(self.class_names, self.dataset)(name)

    def names(self, ids) -> list[str]:
        return [self.class_names[i] for i in ids]

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "class_names": list(self.class_names),
            "prompt_names": list(self.prompt_names),
            "lists": {name: [self.class_names[i] for i in ids] for name, ids in self.lists.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> ClassSplit:
        names = tuple(d["class_names"])
        index = _name_index(names, d["dataset"])
        lists = {name: tuple(sorted(index(c) for c in members)) for name, members in d["lists"].items()}
        return cls(d["dataset"], names, tuple(d["prompt_names"]), lists)


def _name_index(class_names, dataset):
    exact = {name: i for i, name in enumerate(class_names)}
    folded: dict[str, int] = {}
    for i, name in enumerate(class_names):
        folded.setdefault(name.lower(), i)

    def index(name: str) -> int:
        if name in exact:
            return exact[name]
        if name.lower() in folded:
            return folded[name.lower()]
        raise DataError(f"class {name!r} is not one of the {len(class_names)} classes of {dataset}")

    return index


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"missing split file {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_class_split(source: str | Path) -> ClassSplit:
    """Load a class split from a benchmark name ("UCF", ...) or a folder.

    A folder holds `all_class.txt` and the six `stage_*.txt` lists, either beside it or in `cls_split/`
    (the release's `class-split/` folder works as is). The optional name CSV of a benchmark supplies the
    prompt names; without it the class names themselves are the prompts.
    """
    if isinstance(source, str) and source in BENCHMARKS:
        folder, dataset = BUNDLED_SPLITS / source, source
    else:
        folder = Path(source)
        dataset = _guess_dataset(folder)
    if not folder.is_dir():
        raise DataError(f"split folder {folder} does not exist")
    lists_folder = folder / "cls_split" if (folder / "cls_split").is_dir() else folder

    class_names = tuple(sorted(_read_lines(folder / "all_class.txt")))
    if len(set(class_names)) != len(class_names):
        raise DataError(f"{folder / 'all_class.txt'} lists a class twice")
    index = _name_index(class_names, dataset)
    lists = {
        name: tuple(sorted({index(c) for c in _read_lines(lists_folder / f"{name}.txt")}))
        for name in SPLIT_LISTS
    }
    for name, ids in lists.items():
        if not ids:
            raise DataError(f"{lists_folder / (name + '.txt')} lists no class")
    return ClassSplit(dataset, class_names, read_prompt_names(folder, dataset, class_names), lists)


def _guess_dataset(folder: Path) -> str:
    for part in (folder.name, folder.parent.name):
        for name in BENCHMARKS:
            if part.lower() == name.lower():
                return name
    return folder.name


def read_prompt_names(folder: Path, dataset: str, class_names: tuple[str, ...]) -> tuple[str, ...]:
    """The text each class is prompted with: its row in `folder`'s class-name CSV (PROMPT_NAME_COLUMNS), or the
    class names themselves for a data set or folder without one."""
    if dataset not in PROMPT_NAME_COLUMNS or not (folder / PROMPT_NAME_COLUMNS[dataset][0]).is_file():
        return class_names
    file_name, column = PROMPT_NAME_COLUMNS[dataset]
    with open(folder / file_name, newline="", encoding="utf-8") as f:
        cleaned = {row["original"]: row[column] for row in csv.DictReader(f)}
    missing = [name for name in class_names if name not in cleaned]
    if missing:
        raise DataError(f"{folder / file_name} has no row for {missing[:5]}")
    return tuple(cleaned[name] for name in class_names)
