"""Reader for the ClipClap feature release (reference §2).

Layout of one data set root (e.g. the release's `UCF/` folder)::

    class-split/all_class.txt, class-split/cls_split/stage_*.txt, class-split/<name CSV>
    features/cls_features_non_averaged/{audio,video}/<subset>/<ClassLabel>.pkl
    features/cls_features_non_averaged/text/word_embeddings_<ds>_normed.npy          (CLIP, 512-d)
    features/cls_features_non_averaged/text/wavcaps_word_embeddings_<ds>_normed.npy  (WavCaps CLAP, 1024-d)

The release is pickled. Rather than trusting it blindly, files are read with an unpickler that only
rebuilds numpy arrays and scalars (plus the plain containers pickle builds without importing anything):
a file that asks for any other class is rejected. Reading the release is still only done when the user
points avzsl at one, and the CLI says that it is a pickle-based format.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
from pathlib import Path

import numpy as np

from avzsl.data.errors import DataError
from avzsl.data.provenance import Provenance, release_encoders
from avzsl.data.features import SAMPLE_SUBSETS, TEXT_ALIGNMENTS, ClassText, Features, GZSLData
from avzsl.encoders.dims import join_text, text_parts
from avzsl.data.splits import PROMPT_NAME_COLUMNS, ClassSplit, load_class_split, read_prompt_names

FEATURE_METHOD = "cls_features_non_averaged"
SYNTHETIC_MARKER = "SYNTHETIC.txt"  # written by avzsl's synthetic generator so its data is never mistaken


def _numpy_rebuilders() -> dict[tuple[str, str], object]:
    """What a release pickle may reference, by (module, name): the functions and classes that rebuild numpy
    arrays and scalars, under numpy 1's module names (numpy.core) and numpy 2's (numpy._core) alike. Each is
    taken from the numpy installed here, which pickles with them itself: nothing is ever imported by name."""
    array = np.zeros(1, np.float32)
    rebuild = {("multiarray", "_reconstruct"): array.__reduce__()[0],
               ("multiarray", "scalar"): np.float32(0).__reduce__()[0],
               ("numeric", "_frombuffer"): array.__reduce_ex__(5)[0]}  # protocol 5 pickles
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode,  # bytes written by protocol-2 pickles
               ("collections", "OrderedDict"): collections.OrderedDict}
    for core in ("numpy.core", "numpy._core"):
        allowed |= {(f"{core}.{module}", name): f for (module, name), f in rebuild.items()}
    return allowed


_ALLOWED_GLOBALS = _numpy_rebuilders()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy data is expected here")
        return _ALLOWED_GLOBALS[module, name]


def load_numpy_pickle(path: Path):
    """Unpickle a release `.pkl` that may only contain numpy data and plain containers."""
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"cannot read {path}: {e}") from e


def load_npy_dict(path: Path) -> dict:
    """Read an object `.npy` holding one pickled dict (the release's text files) without `allow_pickle`."""
    if not path.is_file():
        raise DataError(f"missing text embedding file {path}")
    f = io.BytesIO(path.read_bytes())
    try:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(f)
        if not dtype.hasobject:
            raise DataError(f"{path} holds a plain array, expected a pickled dict of class name -> vector")
        array = _NumpyOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, ValueError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    value = array.item() if isinstance(array, np.ndarray) else array
    if not isinstance(value, dict):
        raise DataError(f"{path} does not hold a dict of class name -> vector")
    return {str(k): np.asarray(v, dtype=np.float32).reshape(-1) for k, v in value.items()}


def is_release(path: str | Path) -> bool:
    path = Path(path)
    return (path / "class-split" / "all_class.txt").is_file() and (path / "features").is_dir()


def read_release(root: str | Path, dataset: str | None = None, *, text_alignment: str = "by-name") -> GZSLData:
    """Read a release data set root into a `GZSLData`.

    `text_alignment="by-name"` matches text vectors to classes through the name CSV (correct);
    "sorted-keys" reproduces the reference implementations' row order (§3.4), which the published numbers
    were produced with.
    """
    root = Path(root)
    if text_alignment not in TEXT_ALIGNMENTS:
        raise DataError(f"text alignment must be one of {TEXT_ALIGNMENTS}, not {text_alignment!r}")
    if not (root / "class-split").is_dir():
        raise DataError(f"{root} is not a ClipClap release data set root (no class-split/ folder)")
    split = _release_split(root / "class-split", dataset)
    features_root = root / "features" / FEATURE_METHOD
    if not features_root.is_dir():
        raise DataError(f"missing feature folder {features_root}")

    subsets = {name: _read_subset(features_root, name, split) for name in SAMPLE_SUBSETS}
    text = _read_text(features_root / "text", split, text_alignment)
    synthetic = (root / SYNTHETIC_MARKER).is_file()
    provenance = Provenance(
        # The release's extractor, with the frame convention it fed CLIP for this data set (reference §4.1).
        # SYNTHETIC stand-ins in this layout have its sizes, and are served by the same encoders.
        encoders=release_encoders(split.dataset),
        prompt_set=None,  # the release's text came from its own prompts, not one of avzsl's sets
        synthetic=synthetic,
        source={"kind": "clipclap-release", "path": str(root)},
        details={"text_alignment": text_alignment},
    )
    return GZSLData(split, text, subsets, provenance)


def _release_split(split_dir: Path, dataset: str | None) -> ClassSplit:
    """The class split of a release, with the benchmark decided by `dataset`, else by the name CSV present.

    `load_class_split` guesses the benchmark from folder names, so a root named e.g. `data/ucf-gzsl` came out
    as data set "class-split" with the raw class names as prompts, and even `--dataset UCF` then looked up
    'ApplyEyeMakeup' in a text table keyed 'Apply Eye Makeup'. Which name CSV and column give the prompts
    (reference §3.1) is a property of the benchmark, so it is re-read for the benchmark decided here.
    """
    split = load_class_split(split_dir)
    if dataset is None:
        present = [name for name, (csv_name, _) in PROMPT_NAME_COLUMNS.items() if (split_dir / csv_name).is_file()]
        dataset = split.dataset if split.dataset in PROMPT_NAME_COLUMNS or len(present) != 1 else present[0]
    if dataset == split.dataset:
        return split
    if dataset in PROMPT_NAME_COLUMNS and not (split_dir / PROMPT_NAME_COLUMNS[dataset][0]).is_file():
        raise DataError(f"{split_dir} has no {PROMPT_NAME_COLUMNS[dataset][0]}, the class-name file of {dataset} "
                        "(reference §2.1): without it the class text cannot be matched to the classes")
    return ClassSplit(dataset, split.class_names, read_prompt_names(split_dir, dataset, split.class_names), split.lists)


def _read_subset(features_root: Path, subset: str, split: ClassSplit) -> Features:
    audio_dir, video_dir = features_root / "audio" / subset, features_root / "video" / subset
    for folder in (audio_dir, video_dir):
        if not folder.is_dir():
            raise DataError(f"missing feature folder {folder}")
    wanted = set(split.lists[subset])
    files = {}
    for path in sorted(audio_dir.glob("*.pkl")):  # sorted: filesystem order must not matter
        try:
            class_id = split.index(path.stem)
        except DataError as e:
            raise DataError(f"{path}: {e}") from e
        if class_id in wanted:
            files[class_id] = path.name
    missing = sorted(wanted - set(files))
    if missing:
        raise DataError(
            f"{len(missing)} class(es) of {subset}.txt have no feature file in {audio_dir}, "
            f"e.g. {split.names(missing[:5])}"
        )
    parts = []
    for class_id, file_name in sorted(files.items()):
        audio_pkl = load_numpy_pickle(audio_dir / file_name)
        video_path = video_dir / file_name
        if not video_path.is_file():
            raise DataError(f"{audio_dir / file_name} has no visual counterpart {video_path}")
        video_pkl = load_numpy_pickle(video_path)
        audio, visual = _stack(audio_pkl, audio_dir / file_name), _stack(video_pkl, video_path)
        if len(audio) != len(visual):
            raise DataError(f"{file_name} in {subset}: {len(audio)} audio but {len(visual)} visual vectors")
        # Names can be shifted against features in the ActivityNet release (§2.2): only positions count.
        names = [n.decode("utf-8", "replace") if isinstance(n, (bytes, np.bytes_)) else str(n)
                 for n in audio_pkl.get("video_names", [])][: len(audio)]
        names += [f"{Path(file_name).stem}#{i}" for i in range(len(names), len(audio))]
        parts.append(Features(audio, visual, np.full(len(audio), class_id), names))
    return Features.concat(parts)


def _stack(pkl: dict, path: Path) -> np.ndarray:
    if not isinstance(pkl, dict) or "features" not in pkl:
        raise DataError(f"{path} is not a release feature file (no 'features' list)")
    vectors = pkl["features"]
    if len(vectors) == 0:
        raise DataError(f"{path} holds no feature vectors")
    return np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in vectors])


def text_files(dataset: str) -> tuple[str, str]:
    """The file names of a release data set's CLIP and CLAP class text tables."""
    return f"word_embeddings_{dataset.lower()}_normed.npy", f"wavcaps_word_embeddings_{dataset.lower()}_normed.npy"


def _read_text(text_dir: Path, split: ClassSplit, alignment: str) -> ClassText:
    rows = []  # CLIP (K_all, 512), then CLAP (K_all, 1024)
    for file_name in text_files(split.dataset):
        table = load_npy_dict(text_dir / file_name)
        if alignment == "by-name":
            missing = [p for p in split.prompt_names if p not in table]
            if missing:
                raise DataError(f"{text_dir / file_name} has no vector for {missing[:5]}")
            rows.append(np.stack([table[p] for p in split.prompt_names]))
        else:
            if len(table) != split.num_classes:
                raise DataError(f"sorted-keys alignment needs one vector per class: {len(table)} keys for "
                                f"{split.num_classes} classes in {file_name}")
            rows.append(np.stack([table[k] for k in sorted(table)]))
    clip_rows, clap_rows = rows
    return ClassText(join_text(clip_rows, clap_rows), text_parts(clip_rows.shape[1], clap_rows.shape[1]), alignment)
