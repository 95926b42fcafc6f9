"""SYNTHETIC benchmark data, for tests, smoke runs and speed benchmarks. Never a stand-in for real results.

Two generators, chosen by `SyntheticSpec.kind`:

**"discriminative"** (the default) is built so that a model which drops a modality, a loss term or the
class text does measurably worse than one that does not (issue 11). Every class c has a latent made of an
audio part and a visual part, z_c = [z_c^a (latent_dim), z_c^v (latent_dim)]:

    z_c^m = √ρ · g^m_{group_m(c)} + √(1 − ρ) · e^m_c        groups of `confusable` classes share g^m
    audio  a = unit(unit(F_a(z_c^a + σ_a ε)) + α · unit(t_c^clap + τ ξ) + ν ε')      (N, D_a)
    visual v = unit(unit(F_v(z_c^v + σ_v ε)) + α · unit(t_c^clip + τ ξ) + ν ε')      (N, D_v)
    text   t_c^clip = unit(G_clip(z_c) + η ε),  t_c^clap = unit(G_clap(z_c) + η ε)  (K_all, D_clip | D_clap)

- Each modality sees only its own half of the latent, so the class is decided by both together; the
  groupings differ per modality (classes that look alike sound different, like "barn swallow" vs "wood
  thrush" the other way round), so either modality alone confuses whole groups.
- F_*, G_* are fixed random two-layer tanh networks, so no linear map from features to text is exact.
- Classes outside stage_1_train have their latent moved by `unseen_shift` along one fixed direction: the
  unseen classes live where the seen ones are sparse (seen → unseen shift).
- The α term makes each modality partly aligned with its own encoder's text vector, as real CLIP and CLAP
  features are: the training-free cosine score is above chance but far from perfect. It needs the
  modality's size to equal its text part's (visual = CLIP, audio = CLAP); otherwise it is left out.
- Per-modality noise σ_a ≠ σ_v: audio is the noisier modality, as in the benchmarks; ν ε' (norm ν =
  `residual_noise`) is isotropic noise in feature space.

**"linear"** is the earlier generator: audio, visual and text are linear images of one class latent. Ridge
regression solves it almost perfectly (test HM ≈ 98), so it only shows that a pipeline runs.

The class split is a real one (the benchmark's class lists and names) or any `ClassSplit`; sample counts
follow the benchmark's sizes (reference §1.4) times `scale`. `write_release` writes the result in the
ClipClap release layout so that the release reader is tested end to end; the data set root then carries
a `SYNTHETIC.txt` marker that the reader turns into `provenance.synthetic`.
"""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avzsl.data.provenance import Provenance
from avzsl.data.features import SAMPLE_SUBSETS, ClassText, Features, GZSLData
from avzsl.data.release import FEATURE_METHOD, SYNTHETIC_MARKER, text_files
from avzsl.data.splits import PROMPT_NAME_COLUMNS, SPLIT_LISTS, ClassSplit, load_class_split
from avzsl.encoders.dims import TEXT_PART_OF_SPACE
from avzsl.encoders.dims import text_parts as layout  # the field name text_parts is taken

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
ENCODER_DIMS = {"audio_dim": 512, "visual_dim": 512, "text_parts": layout(512, 512)}
KINDS = ("discriminative", "linear")


@dataclass(frozen=True)
class SyntheticSpec:
    """How a synthetic data set is drawn. Dimensions default to the ClipClap release (CLIP 512, CLAP 1024)."""

    benchmark: str = "UCF"  # class split and sizes to imitate
    scale: float = 1.0  # fraction of the benchmark's video counts
    audio_dim: int = 1024
    visual_dim: int = 512
    text_parts: tuple[tuple[str, int], ...] = layout(512, 1024)  # [CLIP | CLAP] (avzsl/encoders/dims.py)
    kind: str = "discriminative"  # "discriminative" (default) | "linear" (the old, easy generator)
    latent_dim: int = 32  # per modality for "discriminative"; the one class latent for "linear"
    decoy_unseen_classes: int = 3  # extra test-unseen classes outside the cls lists (must be filtered out)
    seed: int = 0
    # "discriminative" only (module docstring); the defaults put ridge regression at test HM ≈ 55 on UCF.
    confusable: int = 3  # classes per group sharing a latent direction, per modality (1 = none)
    confusion: float = 0.6  # ρ: share of a class latent's variance that comes from its group
    audio_noise: float = 2.5  # σ_a: spread of a video around its class, audio half of the latent
    visual_noise: float = 1.8  # σ_v, visual half
    alignment: float = 0.2  # α: weight of the modality's own text vector in its features
    alignment_noise: float = 8.0  # τ: how far a video's aligned component strays from the class text
    unseen_shift: float = 0.5  # latent offset of classes outside stage_1_train, per latent dimension
    nonlinearity: float = 4.0  # input gain of the tanh networks (higher = further from linear)
    residual_noise: float = 0.3  # norm of the isotropic feature noise, next to a unit-norm signal
    # "linear" only
    sample_noise: float = 0.9  # spread of a video around its class in latent space
    feature_noise: float = 0.05  # isotropic noise added in feature space, per dimension
    # both generators
    text_noise: float = 0.1  # η: how far class text vectors stray from their latent class


def make_synthetic(spec: SyntheticSpec = SyntheticSpec(), split: ClassSplit | None = None) -> GZSLData:
    if spec.kind not in KINDS:
        raise ValueError(f"synthetic kind must be one of {KINDS}, not {spec.kind!r}")
    rng = np.random.default_rng(spec.seed)
    split = split or load_class_split(spec.benchmark)
    draw = _draw_discriminative if spec.kind == "discriminative" else _draw_linear
    text_rows, sample = draw(spec, split, rng)
    text = ClassText(np.concatenate(text_rows, axis=1), spec.text_parts, "by-name")

    used = set().union(*[set(ids) for ids in split.lists.values()])
    decoys = [c for c in range(split.num_classes) if c not in used][: spec.decoy_unseen_classes]
    sizes = BENCHMARK_SIZES.get(spec.benchmark, BENCHMARK_SIZES["UCF"])
    subsets = {}
    for subset in SAMPLE_SUBSETS:
        classes = list(split.lists[subset]) + (decoys if subset == "stage_2_test_unseen" else [])
        per_class = max(2, round(sizes[subset] * spec.scale / len(split.lists[subset])))
        labels = np.repeat(np.asarray(classes, dtype=np.int64), per_class)
        audio, visual = sample(labels)
        ids = [f"synthetic-{subset}-{split.class_names[c].replace(' ', '_')}-{i:05d}" for i, c in enumerate(labels)]
        subsets[subset] = Features(audio, visual, labels, ids)

    source = {"kind": "synthetic", "spec": {**spec.__dict__, "text_parts": [list(p) for p in spec.text_parts]}}
    # encoders None: made at some encoders' sizes, by none of them
    provenance = Provenance(None, None, synthetic=True, source=source, details={"text_alignment": "by-name"})
    return GZSLData(split, text, subsets, provenance)


def _draw_linear(spec: SyntheticSpec, split: ClassSplit, rng: np.random.Generator):
    """The earlier generator: audio, visual and text are random linear images of one class latent."""
    k_all = split.num_classes
    latent = rng.standard_normal((k_all, spec.latent_dim)).astype(np.float32)

    def projector(dim):  # (latent_dim, dim) random map shared by all classes: what makes transfer learnable
        return rng.standard_normal((spec.latent_dim, dim)).astype(np.float32) / np.sqrt(spec.latent_dim)

    audio_map, visual_map = projector(spec.audio_dim), projector(spec.visual_dim)
    text_rows = []
    for _, dim in spec.text_parts:
        rows = latent @ projector(dim) + spec.text_noise * rng.standard_normal((k_all, dim)).astype(np.float32)
        text_rows.append(_unit(rows))

    def sample(labels):
        z = latent[labels] + spec.sample_noise * rng.standard_normal((len(labels), spec.latent_dim)).astype(np.float32)

        def features(mapping, dim):
            return _unit(z @ mapping + spec.feature_noise * rng.standard_normal((len(labels), dim)).astype(np.float32))

        return features(audio_map, spec.audio_dim), features(visual_map, spec.visual_dim)

    return text_rows, sample


def _tanh_net(rng: np.random.Generator, d_in: int, d_out: int, gain: float, hidden: int = 64):
    """A fixed random two-layer network x (N, d_in) -> (N, d_out): W2 tanh(gain · W1 x / √d_in)."""
    w1 = rng.standard_normal((d_in, hidden)).astype(np.float32) * (gain / np.sqrt(d_in))
    b1 = rng.standard_normal(hidden).astype(np.float32) * 0.5
    w2 = rng.standard_normal((hidden, d_out)).astype(np.float32) / np.sqrt(hidden)
    return lambda x: np.tanh(x @ w1 + b1) @ w2


def _draw_discriminative(spec: SyntheticSpec, split: ClassSplit, rng: np.random.Generator):
    """The default generator (module docstring): two latent halves, non-linear maps, confusable groups."""
    k_all, dim = split.num_classes, spec.latent_dim

    def half():  # (K_all, latent_dim): groups of `confusable` classes share a direction g
        groups = rng.permutation(k_all) // max(1, spec.confusable)  # a different random grouping per call
        shared = rng.standard_normal((groups.max() + 1, dim)).astype(np.float32)
        own = rng.standard_normal((k_all, dim)).astype(np.float32)
        rho = spec.confusion if spec.confusable > 1 else 0.0
        return np.sqrt(rho) * shared[groups] + np.sqrt(1 - rho) * own

    z_a, z_v = half(), half()
    # Seen → unseen shift: every class not trained on in stage 1 moves along one fixed direction.
    not_seen = ~np.isin(np.arange(k_all), split.lists["stage_1_train"])
    direction = rng.standard_normal(2 * dim).astype(np.float32)
    direction *= spec.unseen_shift * np.sqrt(2 * dim) / np.linalg.norm(direction)
    z_a[not_seen] += direction[:dim]
    z_v[not_seen] += direction[dim:]
    z = np.concatenate([z_a, z_v], axis=1)  # (K_all, 2 · latent_dim)

    text_rows = []
    for _, d in spec.text_parts:
        g = _tanh_net(rng, 2 * dim, d, spec.nonlinearity)
        text_rows.append(_unit(g(z) + spec.text_noise * rng.standard_normal((k_all, d)).astype(np.float32)))
    parts = dict(zip([p for p, _ in spec.text_parts], text_rows))
    # Which text vector each modality is partly aligned with: its own encoder's, when the sizes allow.
    aligned = {space: parts.get(part) for space, part in TEXT_PART_OF_SPACE.items()}
    f_a = _tanh_net(rng, dim, spec.audio_dim, spec.nonlinearity)
    f_v = _tanh_net(rng, dim, spec.visual_dim, spec.nonlinearity)

    def modality(name, f, latent, noise, d_out, labels):
        n = len(labels)
        x = f(latent[labels] + noise * rng.standard_normal((n, dim)).astype(np.float32))  # (N, d_out)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        text = aligned[name]
        if text is not None and text.shape[1] == d_out and spec.alignment > 0:
            wobble = spec.alignment_noise * rng.standard_normal((n, d_out)).astype(np.float32) / np.sqrt(d_out)
            x = x + spec.alignment * _unit(text[labels] + wobble)
        # Isotropic noise of norm ≈ residual_noise next to a signal of norm ≈ 1.
        return _unit(x + spec.residual_noise * rng.standard_normal((n, d_out)).astype(np.float32) / np.sqrt(d_out))

    def sample(labels):
        return (modality("audio", f_a, z_a, spec.audio_noise, spec.audio_dim, labels),
                modality("visual", f_v, z_v, spec.visual_noise, spec.visual_dim, labels))

    return text_rows, sample


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
    # the benchmark's class-name CSV (splits.py's PROMPT_NAME_COLUMNS), the prompt names in each column
    default = (f"{split.dataset.lower()}_w2v_class_names.csv", "manual")
    file_name, column = PROMPT_NAME_COLUMNS.get(split.dataset, default)
    header = list(dict.fromkeys(["original", "manual", column]))  # UCF: and clip_class_name
    with open(split_dir / file_name, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([name, *[prompt] * (len(header) - 1)] for name, prompt in zip(split.class_names, split.prompt_names))
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
    offset = 0
    for (_, dim), file_name in zip(data.text.parts, text_files(split.dataset)):
        table = {p: data.text.embeddings[i, offset : offset + dim] for i, p in enumerate(split.prompt_names)}
        np.save(text_dir / file_name, table, allow_pickle=True)
        offset += dim
    return root

