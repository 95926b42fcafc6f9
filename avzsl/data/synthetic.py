"""SYNTHETIC benchmark data, for tests, smoke runs and speed benchmarks. Never a stand-in for real results.

Every class c has a latent vector z_c. Its text vectors and its videos' audio and visual vectors are fixed
random linear images of z_c (plus noise), so the mapping from features to text learned on seen classes
carries over to unseen ones: a model that learns it shows real transfer, one that does not stays at chance.

The class split is a real one (the benchmark's class lists and names) or any `ClassSplit`; sample counts
follow the benchmark's sizes (reference §1.4) times `scale`. `write_release` writes the result in the
ClipClap release layout so that the release reader is tested end to end; the data set root then carries
a `SYNTHETIC.txt` marker that the reader turns into `provenance["synthetic"] = True`.
"""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avzsl.data.features import SAMPLE_SUBSETS, ClassText, Features, GZSLData
from avzsl.data.release import FEATURE_METHOD, SYNTHETIC_MARKER
from avzsl.data.splits import SPLIT_LISTS, ClassSplit, load_class_split

# Videos per subset in the benchmarks' cls splits (reference §1.4); stage_2_test_unseen is cls.
BENCHMARK_SIZES = {
    "UCF": {"stage_1_train": 3174, "stage_1_val_seen": 353, "stage_1_val_unseen": 1467,
            "stage_2_test_seen": 555, "stage_2_test_unseen": 845},
    "ActivityNet": {"stage_1_train": 9204, "stage_1_val_seen": 1023, "stage_1_val_unseen": 4307,
                    "stage_2_test_seen": 1615, "stage_2_test_unseen": 4052},
    "VGGSound": {"stage_1_train": 70351, "stage_1_val_seen": 7817, "stage_1_val_unseen": 3102,
                 "stage_2_test_seen": 9032, "stage_2_test_unseen": 3200},
}


# Dimensions of the features avzsl's own encoders give (CLIP ViT-B-32 and CLAP HTSAT-tiny: 512-d each), for
# synthetic data whose checkpoints the app and avzsl.predict can load: `SyntheticSpec(**ENCODER_DIMS)`.
ENCODER_DIMS = {"audio_dim": 512, "visual_dim": 512, "text_parts": (("clip", 512), ("clap", 512))}


@dataclass(frozen=True)
class SyntheticSpec:
    """How a synthetic data set is drawn. Dimensions default to the ClipClap release (CLIP 512, CLAP 1024)."""

    benchmark: str = "UCF"  # class split and sizes to imitate
    scale: float = 1.0  # fraction of the benchmark's video counts
    audio_dim: int = 1024
    visual_dim: int = 512
    text_parts: tuple[tuple[str, int], ...] = (("clip", 512), ("clap", 1024))
    latent_dim: int = 32
    sample_noise: float = 0.9  # spread of a video around its class in latent space (higher = harder)
    feature_noise: float = 0.05  # isotropic noise added in feature space
    text_noise: float = 0.1  # how far class text vectors stray from their latent class
    decoy_unseen_classes: int = 3  # extra test-unseen classes outside the cls lists (must be filtered out)
    seed: int = 0


def make_synthetic(spec: SyntheticSpec = SyntheticSpec(), split: ClassSplit | None = None) -> GZSLData:
    rng = np.random.default_rng(spec.seed)
    split = split or load_class_split(spec.benchmark)
    k_all = split.num_classes
    latent = rng.standard_normal((k_all, spec.latent_dim)).astype(np.float32)

    def projector(dim):  # (latent_dim, dim) random map shared by all classes: what makes transfer learnable
        return rng.standard_normal((spec.latent_dim, dim)).astype(np.float32) / np.sqrt(spec.latent_dim)

    audio_map, visual_map = projector(spec.audio_dim), projector(spec.visual_dim)
    text_rows = []
    for _, dim in spec.text_parts:
        rows = latent @ projector(dim) + spec.text_noise * rng.standard_normal((k_all, dim)).astype(np.float32)
        text_rows.append(_unit(rows))
    text = ClassText(np.concatenate(text_rows, axis=1), spec.text_parts, "by-name")

    used = set().union(*[set(ids) for ids in split.lists.values()])
    decoys = [c for c in range(k_all) if c not in used][: spec.decoy_unseen_classes]
    sizes = BENCHMARK_SIZES.get(spec.benchmark, BENCHMARK_SIZES["UCF"])
    subsets = {}
    for subset in SAMPLE_SUBSETS:
        classes = list(split.lists[subset]) + (decoys if subset == "stage_2_test_unseen" else [])
        per_class = max(2, round(sizes[subset] * spec.scale / len(split.lists[subset])))
        labels = np.repeat(np.asarray(classes, dtype=np.int64), per_class)
        z = latent[labels] + spec.sample_noise * rng.standard_normal((len(labels), spec.latent_dim)).astype(np.float32)

        def features(mapping, dim):
            return _unit(z @ mapping + spec.feature_noise * rng.standard_normal((len(labels), dim)).astype(np.float32))

        ids = [f"synthetic-{subset}-{split.class_names[c].replace(' ', '_')}-{i:05d}" for i, c in enumerate(labels)]
        subsets[subset] = Features(features(audio_map, spec.audio_dim), features(visual_map, spec.visual_dim), labels, ids)

    provenance = {
        "synthetic": True,
        "source": {"kind": "synthetic", "spec": {**spec.__dict__, "text_parts": [list(p) for p in spec.text_parts]}},
        "encoders": {"synthetic": True},
        "text_alignment": "by-name",
    }
    return GZSLData(split, text, subsets, provenance)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write_release(data: GZSLData, root: str | Path) -> Path:
    """Write `data` in the ClipClap release layout (pickles, as the release does) under `root`."""
    root = Path(root)
    split_dir = root / "class-split"
    (split_dir / "cls_split").mkdir(parents=True, exist_ok=True)
    split = data.split
    (split_dir / "all_class.txt").write_text("\n".join(split.class_names) + "\n", encoding="utf-8")
    for name in SPLIT_LISTS:
        lines = split.names(split.lists[name])
        (split_dir / "cls_split" / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _write_name_csv(split_dir, split)
    (root / SYNTHETIC_MARKER).write_text(
        "SYNTHETIC data generated by avzsl.data.synthetic for tests and smoke runs. Not real features.\n"
    )

    features_root = root / "features" / FEATURE_METHOD
    for subset in SAMPLE_SUBSETS:
        f = data.subsets[subset]
        for class_id in np.unique(f.labels):
            rows = np.flatnonzero(f.labels == class_id)
            names = [np.bytes_(f.video_ids[i].encode()) for i in rows]
            label = split.class_names[class_id]
            for modality, matrix, dtype in (("audio", f.audio, np.float32), ("video", f.visual, np.float16)):
                folder = features_root / modality / subset
                folder.mkdir(parents=True, exist_ok=True)
                payload = {"features": [matrix[i].astype(dtype) for i in rows], "video_names": names, "fps": [25] * len(rows)}
                with open(folder / f"{label}.pkl", "wb") as fh:
                    pickle.dump(payload, fh)

    text_dir = features_root / "text"
    text_dir.mkdir(parents=True, exist_ok=True)
    ds = split.dataset.lower()
    offset = 0
    for (part, dim), file_name in zip(data.text.parts, (f"word_embeddings_{ds}_normed.npy", f"wavcaps_word_embeddings_{ds}_normed.npy")):
        table = {p: data.text.embeddings[i, offset : offset + dim] for i, p in enumerate(split.prompt_names)}
        np.save(text_dir / file_name, table, allow_pickle=True)
        offset += dim
    return root


def _write_name_csv(split_dir: Path, split: ClassSplit) -> None:
    if split.dataset == "UCF":
        path, header = split_dir / "ucf_clip_class_names.csv", ["original", "manual", "clip_class_name"]
        rows = [[n, p, p] for n, p in zip(split.class_names, split.prompt_names)]
    else:
        path, header = split_dir / f"{split.dataset.lower()}_w2v_class_names.csv", ["original", "manual"]
        rows = [[n, p] for n, p in zip(split.class_names, split.prompt_names)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
