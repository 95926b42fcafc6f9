"""avzsl's own feature store: a folder with `store.json` and `features.safetensors`.

Nothing in it is pickled, so opening a store from anyone is safe.

`store.json` (schema version 1)::

    {
      "format": "avzsl-feature-store", "schema_version": 1,
      "synthetic": false,                      # true for generated data (stored here only)
      "split": {"dataset", "class_names", "prompt_names", "lists": {stage_*: [class names]}},
      "text": {"parts": [["clip", 512], ["clap", 512]], "alignment": "by-name"},
      "provenance": {"encoders": {...}, "prompt_templates": {...}, "created": ..., ...},   # data/provenance.py
      "subsets": {"stage_1_train": {"count": N, "video_ids": [...]}, ...}
    }

`features.safetensors` holds, per subset S, `S.audio` (N, D_a) float32, `S.visual` (N, D_v) float32 and
`S.labels` (N,) int64 global class ids, plus `text` (K_all, D_t) float32, the class text embeddings.
Files are written to a temporary name and moved into place, so a store on disk is always whole. Reading
checks store.json's fields and the tensors' names, shapes and dtypes before loading any of them, and
refuses non-finite features (avzsl/validation.py).
Stores written by earlier versions kept "synthetic" in the provenance too; either place marks SYNTHETIC data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from safetensors.numpy import load_file

from avzsl.data.errors import DataError
from avzsl.data.provenance import Provenance
from avzsl.data.features import SAMPLE_SUBSETS, ClassText, Features, GZSLData
from avzsl.data.splits import ClassSplit
from avzsl.io import atomic_save_tensors, atomic_write_json, read_json
from avzsl.validation import check_finite, check_object, check_store_manifest, check_tensor, safetensors_header

STORE_FORMAT = "avzsl-feature-store"
STORE_SCHEMA_VERSION = 1
MANIFEST = "store.json"
TENSORS = "features.safetensors"


def is_store(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def write_store(path: str | Path, data: GZSLData, *, synthetic: bool = False) -> Path:
    """Write `data` as an avzsl feature store folder; returns the folder. synthetic: mark it SYNTHETIC even if
    its provenance does not say so."""
    path = Path(path)
    tensors = {"text": data.text.embeddings}
    for name in SAMPLE_SUBSETS:
        for field in ("audio", "visual", "labels"):
            tensors[f"{name}.{field}"] = getattr(data.subsets[name], field)
    subsets = {name: {"count": len(data.subsets[name]), "video_ids": list(data.subsets[name].video_ids)}
               for name in SAMPLE_SUBSETS}
    manifest = {
        "format": STORE_FORMAT,
        "schema_version": STORE_SCHEMA_VERSION,
        "synthetic": bool(synthetic or data.provenance.synthetic),
        "split": data.split.to_dict(),
        "text": {"parts": [list(p) for p in data.text.parts], "alignment": data.text.alignment},
        "provenance": {k: v for k, v in data.provenance.to_dict().items() if k != "synthetic"},  # stored once, above
        "subsets": subsets,
    }
    # Tensors first: a store is only recognised once its manifest exists.
    atomic_save_tensors(path / TENSORS, tensors)
    atomic_write_json(path / MANIFEST, manifest)
    return path


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"{path} is not an avzsl feature store (no {MANIFEST})")
    manifest = check_object(read_json(manifest_path, DataError, "feature store manifest"), str(manifest_path), DataError)
    if manifest.get("format") != STORE_FORMAT:
        raise DataError(f"{manifest_path} is not an avzsl feature store manifest")
    version = manifest.get("schema_version")
    if version != STORE_SCHEMA_VERSION:
        raise DataError(
            f"{manifest_path} has schema version {version}; this avzsl reads version {STORE_SCHEMA_VERSION}"
        )
    return check_store_manifest(manifest, str(manifest_path), DataError, SAMPLE_SUBSETS)


def read_store(path: str | Path) -> GZSLData:
    path = Path(path)
    manifest = read_manifest(path)
    tensors_path = path / TENSORS
    if not tensors_path.is_file():
        raise DataError(f"feature store {path} is missing {TENSORS}")
    # From the file's header alone, before loading anything: every tensor the manifest implies, with its dtype
    # and shape.
    header = safetensors_header(tensors_path, DataError)
    where = str(tensors_path)
    classes = len(manifest["split"]["class_names"])
    check_tensor(header, "text", "F32", (classes, sum(d for _, d in manifest["text"]["parts"])), where, DataError)
    widths = {}
    for name in SAMPLE_SUBSETS:
        if name not in manifest["subsets"]:
            raise DataError(f"feature store {path} has no subset {name}")
        count = manifest["subsets"][name]["count"]
        for modality in ("audio", "visual"):
            check_tensor(header, f"{name}.{modality}", "F32", (count, widths.get(modality)), where, DataError)
            widths[modality] = header[f"{name}.{modality}"].shape[1]
        check_tensor(header, f"{name}.labels", "I64", (count,), where, DataError)
    tensors = load_file(tensors_path)
    for name, values in tensors.items():
        check_finite(values, f"tensor {name}", where, DataError)
        if name.endswith(".labels") and len(values) and not 0 <= values.min() <= values.max() < classes:
            raise DataError(f"{tensors_path}: tensor {name} holds class ids outside 0..{classes - 1}")
    split = ClassSplit.from_dict(manifest["split"])
    subsets = {name: Features(tensors[f"{name}.audio"], tensors[f"{name}.visual"], tensors[f"{name}.labels"],
                              manifest["subsets"][name]["video_ids"]) for name in SAMPLE_SUBSETS}
    text = ClassText(tensors["text"], tuple(tuple(p) for p in manifest["text"]["parts"]), manifest["text"]["alignment"])
    provenance = Provenance.from_dict(manifest.get("provenance", {}), split.dataset, f"{path / MANIFEST} provenance")
    synthetic = bool(manifest.get("synthetic", False)) or provenance.synthetic  # either place (module docstring)
    source = {"kind": "avzsl-store", "path": str(path)}
    return GZSLData(split, text, subsets, dataclasses.replace(provenance, synthetic=synthetic, source=source))
