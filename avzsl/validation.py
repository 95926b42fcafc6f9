"""Checks of what comes from a file, made before anything is built or allocated from it.

A checkpoint's config.json and metrics.json, a feature store's store.json, and the header of any
safetensors file are read as plain JSON first and checked here: types of every field, sizes against the
model's recipe (with a cap on the parameter count), tensors present with their shapes and dtypes, and
finite values. Each problem is one error (the reader's own class: CheckpointError, DataError) whose
message names the file and the field:

    >>> check_fields({"seed": "42"}, {"seed": INT}, "ck/config.json", ValueError)
    Traceback (most recent call last):
    ...
    ValueError: ck/config.json: field seed must be a whole number, not the text '42'

The readers (checkpoint.py, data/store.py) call these on the raw JSON where they read it, then build
their typed objects from JSON they know to be well formed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

MAX_PARAMETERS = 200_000_000  # 800 MB of float32: 70x avzsl's largest model (CoGe, 2.7 M), far below a bad config's 4 TB
MAX_FEATURE_DIM = 1 << 16  # feature and text widths: avzsl's encoders give 512 to 1024
# A safetensors header describes each tensor in ~100 bytes: CLIP's 400 tensors take 40 kB. Parsing the
# safetensors library's own limit, 100 MB, took 31 s and 650 MB; no real file comes near this one.
MAX_HEADER_BYTES = 16_000_000


# --- field types: a name to show and a test ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str  # "a whole number", as the message says it
    test: Callable[[object], bool]

    def __or__(self, other: Kind) -> Kind:
        return Kind(f"{self.name} or {other.name}", lambda v: self.test(v) or other.test(v))


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


INT = Kind("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
NUMBER = Kind("a finite number", _finite_number)
BOOL = Kind("true or false", lambda v: isinstance(v, bool))
TEXT = Kind("a text", lambda v: isinstance(v, str))
OBJECT = Kind("an object", lambda v: isinstance(v, dict))
NULL = Kind("null", lambda v: v is None)
TEXTS = Kind("a list of texts", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))
SIZE = Kind(f"a whole number from 1 to {MAX_FEATURE_DIM}",
            lambda v: INT.test(v) and 1 <= v <= MAX_FEATURE_DIM)
TEXT_PARTS = Kind(f"a list of [name, width] pairs (width 1 to {MAX_FEATURE_DIM})",
                  lambda v: isinstance(v, list) and len(v) > 0 and all(
                      isinstance(p, list) and len(p) == 2 and TEXT.test(p[0]) and SIZE.test(p[1]) for p in v))


def describe(value) -> str:
    """A value as a message shows it: its JSON type and a short excerpt."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    kind = {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)
    return f"{kind} {json.dumps(value)[:40]}"


def check_object(value, where: str, error: type[Exception], what: str = "") -> dict:
    """`value` must be a JSON object (a config that is a list is refused here)."""
    if not isinstance(value, dict):
        raise error(f"{where}: {what or 'the file'} must be a JSON object, not {describe(value)}")
    return value


def check_fields(d: Mapping, fields: Mapping[str, Kind], where: str, error: type[Exception], *,
                 prefix: str = "", optional: tuple[str, ...] = ()) -> None:
    """`d` is a JSON object, and every field of `fields` is present (unless optional) with a value of its kind."""
    check_object(d, where, error, f"field {prefix.rstrip('.')}" if prefix else "")
    for name, kind in fields.items():
        if name not in d:
            if name in optional:
                continue
            raise error(f"{where}: field {prefix}{name} is missing")
        if not kind.test(d[name]):
            raise error(f"{where}: field {prefix}{name} must be {kind.name}, not {describe(d[name])}")


def check_dataclass_fields(d, cls, where: str, error: type[Exception], prefix: str) -> None:
    """A dict meant for `cls(**d)`: an object, no unknown field, each value of its default's type."""
    check_object(d, where, error, f"field {prefix.rstrip('.')}")  # before its fields are listed
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise error(f"{where}: field {prefix}{unknown[0]} is not a setting of {cls.__name__}")
    kinds = {}
    for name, f in known.items():
        default = f.default if f.default is not dataclasses.MISSING else None
        kinds[name] = (BOOL if isinstance(default, bool) else INT if isinstance(default, int)
                       else NUMBER if isinstance(default, float) else TEXT if isinstance(default, str)
                       else Kind("a list of numbers", lambda v: isinstance(v, list) and all(map(_finite_number, v)))
                       if isinstance(default, tuple) else Kind("any value", lambda v: True))
    optional = tuple(n for n, f in known.items()
                     if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
    check_fields(d, kinds, where, error, prefix=prefix, optional=optional)


# --- checkpoint files ------------------------------------------------------------------------------------

CLASS_LISTS = ("all", "prompt_names", "train", "test_seen", "test_unseen")
INPUT_DIMS = {"audio": SIZE, "visual": SIZE, "text_parts": TEXT_PARTS}
METRIC_NAMES = ("S", "U", "HM", "ZSL")


def check_config_json(raw, where: str, error: type[Exception]) -> dict:
    """A checkpoint's config.json, as read (schema 1 or 2): every field the reader uses has its type."""
    check_fields(raw, {"format": TEXT, "schema_version": INT, "recipe": OBJECT, "input_dims": OBJECT,
                       "classes": OBJECT, "dataset": TEXT, "best_epoch": INT, "seed": INT}, where, error)
    check_recipe(raw["recipe"], where, error)
    check_fields(raw["input_dims"], INPUT_DIMS, where, error, prefix="input_dims.")
    check_fields(raw, {"created": TEXT, "versions": OBJECT, "data": OBJECT, "encoders": OBJECT | NULL | TEXT},
                 where, error, optional=("created", "versions", "data", "encoders"))
    check_fields(raw["classes"], dict.fromkeys(CLASS_LISTS, TEXTS), where, error, prefix="classes.", optional=("prompt_names",))
    if len(raw["classes"].get("prompt_names", raw["classes"]["all"])) != len(raw["classes"]["all"]):
        raise error(f"{where}: field classes.prompt_names must have one name per class of classes.all")
    if raw["schema_version"] == 1:
        check_fields(raw, {"gamma": NUMBER}, where, error)
        return raw
    check_fields(raw, {"synthetic": BOOL, "text_alignment": TEXT, "prompt_set": TEXT | NULL,
                       "encoders": OBJECT | NULL, "calibration": OBJECT}, where, error)
    check_fields(raw["calibration"], {"gamma": NUMBER, "alpha": NUMBER, "blend_scale": NUMBER}, where, error,
                 prefix="calibration.", optional=("alpha", "blend_scale"))
    return raw


def check_recipe(recipe, where: str, error: type[Exception]) -> None:
    """The recipe's model is known here and its settings have the types of that model's Config."""
    from avzsl.models.registry import MODEL_MODULES, TrainingConfig, config_class

    check_fields(recipe, {"model": TEXT, "config": OBJECT, "training": OBJECT}, where, error, prefix="recipe.")
    if recipe["model"] not in MODEL_MODULES:
        raise error(f"{where}: field recipe.model is {recipe['model']!r}, a model unknown to this avzsl "
                    f"({', '.join(sorted(MODEL_MODULES))})")
    check_dataclass_fields(recipe["config"], config_class(recipe["model"]), where, error, "recipe.config.")
    check_dataclass_fields(recipe["training"], TrainingConfig, where, error, "recipe.training.")


def check_model_size(build: Callable[[], object], where: str, error: type[Exception]):
    """Build the model on the meta device (no memory), refuse it above MAX_PARAMETERS, and return it
    (its state_dict gives every tensor's name, shape and dtype to check a weights file against)."""
    import torch

    try:
        with torch.device("meta"):
            model = build()
    except (KeyError, TypeError, ValueError, RuntimeError, AssertionError) as e:
        raise error(f"{where}: the model cannot be built from its recipe: {type(e).__name__}: {e}") from None
    count = sum(t.numel() for t in model.state_dict().values())
    if count > MAX_PARAMETERS:
        raise error(f"{where}: the recipe asks for a model of {count:,} parameters ({4 * count / 1e9:,.1f} GB); "
                    f"avzsl refuses more than {MAX_PARAMETERS:,}")
    return model


def check_metrics_json(raw, where: str, error: type[Exception], sets: tuple[str, ...]) -> dict:
    """metrics.json: an object whose metric sets (val, test, ...) hold finite S, U, HM and ZSL."""
    check_object(raw, where, error)
    for name in sets:
        if name in raw:
            check_fields(raw[name], {m: NUMBER for m in METRIC_NAMES}, where, error, prefix=f"{name}.")
    return raw


# --- feature store ---------------------------------------------------------------------------------------


def check_store_manifest(raw, where: str, error: type[Exception], subsets: tuple[str, ...]) -> dict:
    """store.json: every field read_store uses, with its type; subset counts and video ids agree."""
    check_fields(raw, {"format": TEXT, "schema_version": INT, "split": OBJECT, "text": OBJECT, "subsets": OBJECT,
                       "synthetic": BOOL, "provenance": OBJECT}, where, error, optional=("synthetic", "provenance"))
    split = raw["split"]
    check_fields(split, {"dataset": TEXT, "class_names": TEXTS, "prompt_names": TEXTS, "lists": OBJECT}, where,
                 error, prefix="split.")
    if not split["class_names"] or len(split["prompt_names"]) != len(split["class_names"]):
        raise error(f"{where}: field split.prompt_names must have one name per class of split.class_names")
    check_fields(split["lists"], dict.fromkeys(split["lists"], TEXTS), where, error, prefix="split.lists.")
    check_fields(raw["text"], {"parts": TEXT_PARTS, "alignment": TEXT}, where, error, prefix="text.")
    for name in subsets:
        entry = raw["subsets"].get(name)
        if entry is None:
            continue  # the reader says which subset is missing
        check_fields(entry, {"count": INT, "video_ids": TEXTS}, where, error, prefix=f"subsets.{name}.")
        if entry["count"] != len(entry["video_ids"]):
            raise error(f"{where}: field subsets.{name}.count is {entry['count']}, but it lists "
                        f"{len(entry['video_ids'])} video ids")
    return raw


# --- safetensors files -----------------------------------------------------------------------------------

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    dtype: str  # safetensors' name: "F32", "I64", ...
    shape: tuple[int, ...]


def safetensors_header(path: str | Path, error: type[Exception]) -> dict[str, TensorInfo]:
    """The tensors a safetensors file says it holds, read from its header alone (nothing else is read).

    Refuses, naming the file, anything that is not a whole safetensors file: a header length beyond the
    file ("header too large"), a header that is not JSON, unknown dtypes, or data ranges that do not fit.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise error(f"{path} is not a safetensors file: it has only {size} bytes")
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, MAX_HEADER_BYTES):
            raise error(f"{path} is not a safetensors file (header too large: {length:,} bytes in a file of {size:,})")
        try:
            header = json.loads(f.read(length).decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError) as e:  # also UnicodeDecodeError, and an integer of 4300+ digits
            raise error(f"{path} is not a safetensors file: its header is not JSON ({type(e).__name__}: {e})") from None
        except _DuplicateField as e:
            raise error(f"{path} is not a safetensors file: its header names {e} twice") from None
    check_object(header, str(path), error, "the header")
    data_bytes = size - 8 - length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(entry, dict) and entry.get("dtype") in DTYPE_BYTES
                and isinstance(entry.get("shape"), list) and all(INT.test(d) and d >= 0 for d in entry["shape"])
                and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2
                and all(INT.test(o) for o in entry["data_offsets"])):
            raise error(f"{path}: tensor {name} has a damaged header entry {describe(entry)}")
        start, end = entry["data_offsets"]
        expected = math.prod(entry["shape"]) * DTYPE_BYTES[entry["dtype"]]
        if not 0 <= start <= end <= data_bytes or end - start != expected:
            raise error(f"{path}: tensor {name} does not fit in the file (truncated or damaged)")
        tensors[name] = TensorInfo(entry["dtype"], tuple(entry["shape"]))
    return tensors


class _DuplicateField(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object that names no field twice (the safetensors library refuses such a header when loading)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        raise _DuplicateField(next(repr(k) for k, _ in pairs if k in seen or seen.add(k)))
    return out


def check_tensor(tensors: Mapping[str, TensorInfo], name: str, dtype: str, shape: tuple[int | None, ...],
                 where: str, error: type[Exception]) -> None:
    """Tensor `name` is present with this dtype and shape (None: any size on that axis)."""
    info = tensors.get(name)
    if info is None:
        raise error(f"{where}: tensor {name} is missing")
    fits = len(info.shape) == len(shape) and all(want is None or want == got for want, got in zip(shape, info.shape))
    if info.dtype != dtype or not fits:
        wanted = "(" + ", ".join("N" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
        raise error(f"{where}: tensor {name} is {info.dtype} {info.shape}; it must be {dtype} {wanted}")


# --- finite values ---------------------------------------------------------------------------------------


def check_finite(values, name: str, where: str, error: type[Exception], *, rows: str = "row") -> None:
    """Refuse a tensor or array holding NaN or infinity, naming the first bad row (or element).

    One sum decides the common case without a mask as large as the values (it was most of an encoder's load):
    NaN and infinity survive a sum, so a finite sum means finite values; a sum that overflows falls through to
    the element-wise check.
    """
    if hasattr(values, "is_floating_point"):  # a torch tensor, checked where it lies
        import torch

        if not values.is_floating_point() or bool(torch.isfinite(values.sum())):
            return
        bad = (~torch.isfinite(values)).cpu().numpy()
    else:
        values = np.asarray(values)
        if not np.issubdtype(values.dtype, np.floating):
            return
        with np.errstate(over="ignore"):  # an overflowing sum is answered by the element-wise check below
            if np.isfinite(values.sum()):
                return
        bad = ~np.isfinite(values)
    if not bad.any():
        return
    if bad.ndim >= 2:
        bad_rows = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))
        raise error(f"{where}: {name} has non-finite values (NaN or infinity) in {len(bad_rows)} of {len(bad)} "
                    f"{rows}s, the first {rows} {int(bad_rows[0])}")
    raise error(f"{where}: {name} has {int(bad.sum())} non-finite values (NaN or infinity)")


def check_finite_features(data, error: type[Exception]) -> None:
    """Every feature row and class text of a GZSLData set is finite (one NaN row makes every loss NaN)."""
    where = f"data set {data.name} ({data.provenance.source.get('path', 'in memory')})"
    check_finite(data.text.embeddings, "the class text", where, error, rows="class")
    for name, features in data.subsets.items():
        for modality in ("audio", "visual"):
            check_finite(getattr(features, modality), f"the {modality} features of {name}", where, error)
