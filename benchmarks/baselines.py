"""Training-free and ridge-regression baselines, and the models side by side, on the SYNTHETIC benchmark.

    python benchmarks/baselines.py                       # baselines only (seconds)
    python benchmarks/baselines.py --models clipclap avca --training avca:epochs=3 --training avca:batches_per_epoch=100

Both baselines follow the two-stage protocol of the models (reference §8) so that their numbers are
comparable: what is chosen (ridge λ, calibration γ) is chosen on the stage-1 validation set, the stage-2
fit is on train ∪ val, and the test split is scored once with the chosen γ.

- **Ridge**: W = argmin ‖X W − T_y‖² + λ‖W‖² from the input features X ((N, D_v + D_a), or one modality)
  to the [CLIP | CLAP] text vector of each video's class; a video's distance to class c is the cosine
  distance between X W and t_c. Closed form, so it shows how far a linear map gets on this data.
- **Training-free**: the cosine distances of the visual features to the classes' CLIP text and of the audio
  features to their CLAP text, averaged (as the prediction service's training-free mode does); no learning.
- **--blend**: the models are trained with the open-vocabulary blend searched on validation (train --blend):
  the same model gives the "model alone" numbers (exactly those of a run without it) and the blended ones.

"One modality" for the models means the other modality's features are replaced by zeros everywhere
(training, validation, test), the same ablation for every model, so the table compares like with like.
The tests import `ridge_baseline` and `training_free` from here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avzsl.data.features import Features, GZSLData  # noqa: E402
from avzsl.encoders.dims import InputDims  # noqa: E402

MODALITIES = ("both", "audio", "visual")
COSINE_GAMMAS = np.linspace(0.0, 1.0, 101)  # cosine distances lie in [0, 2]; step 0.01
RIDGE_LAMBDAS = (0.01, 0.1, 1.0, 10.0)


def inputs(features: Features, modality: str = "both") -> np.ndarray:
    """(N, D) ridge inputs: [visual | audio] as ClipClap concatenates them, or one modality."""
    return {"both": lambda: np.concatenate([features.visual, features.audio], axis=1),
            "audio": lambda: features.audio, "visual": lambda: features.visual}[modality]()


def cosine_distances(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(N, D), (K, D) -> (N, K) 1 − cos."""
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    t = t / (np.linalg.norm(t, axis=1, keepdims=True) + 1e-12)
    return 1.0 - x @ t.T


def _metrics(distances, stage, gammas):
    from avzsl.training.metrics import gzsl_metrics  # torch: imported on use, so that --help answers at once

    return gzsl_metrics(distances, stage.eval.labels, stage.eval_classes, stage.seen_classes, stage.unseen_classes, gammas)


def _fit_ridge(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    return np.linalg.solve(x64.T @ x64 + lam * np.eye(x.shape[1]), x64.T @ y64)  # (D_in, D_t)


def ridge_baseline(data: GZSLData, modality: str = "both", lambdas=RIDGE_LAMBDAS) -> dict:
    """Ridge from features to class text through both stages; returns val and test metrics, λ and γ."""
    text = data.text.embeddings
    stage1, stage2 = data.stage(1), data.stage(2)
    best = None
    for lam in lambdas:  # λ and γ chosen on validation, like the models' epoch and γ
        w = _fit_ridge(inputs(stage1.train, modality), text[stage1.train.labels], lam)
        val = _metrics(cosine_distances(inputs(stage1.eval, modality) @ w, text[stage1.eval_classes]), stage1, COSINE_GAMMAS)
        if best is None or val.HM > best[1].HM:
            best = (lam, val)
    lam, val = best
    w = _fit_ridge(inputs(stage2.train, modality), text[stage2.train.labels], lam)
    test = _metrics(cosine_distances(inputs(stage2.eval, modality) @ w, text[stage2.eval_classes]), stage2, val.gamma)
    return {"val": val.to_dict(), "test": test.to_dict(), "lambda": lam, "gamma": val.gamma}


def training_free_distances(features: Features, text: np.ndarray, parts, modality: str = "both") -> np.ndarray:
    """(N, K) mean cosine distance of visual to CLIP text and audio to CLAP text (K rows of `text`), as
    the prediction service scores (avzsl.models.scoring.training_free_distances), or of one modality."""
    from avzsl.models import scoring

    dims = InputDims(features.audio.shape[1], features.visual.shape[1], tuple(parts))
    return scoring.training_free_distances(
        features.audio if modality in ("both", "audio") else None,
        features.visual if modality in ("both", "visual") else None,
        text[:, dims.text_slice("clip")], text[:, dims.text_slice("clap")])


def training_free(data: GZSLData, modality: str = "both") -> dict:
    """The training-free score through the protocol: γ from validation, applied once on test."""
    text, parts = data.text.embeddings, data.text.parts
    stage1, stage2 = data.stage(1), data.stage(2)
    val = _metrics(training_free_distances(stage1.eval, text[stage1.eval_classes], parts, modality), stage1, COSINE_GAMMAS)
    test = _metrics(training_free_distances(stage2.eval, text[stage2.eval_classes], parts, modality), stage2, val.gamma)
    return {"val": val.to_dict(), "test": test.to_dict(), "gamma": val.gamma}


def drop_modality(data: GZSLData, modality: str) -> GZSLData:
    """`data` with the features of the modality *not* named replaced by zeros ("both" = unchanged)."""
    if modality == "both":
        return data
    subsets = {}
    for name, f in data.subsets.items():
        audio = f.audio if modality == "audio" else np.zeros_like(f.audio)
        visual = f.visual if modality == "visual" else np.zeros_like(f.visual)
        subsets[name] = Features(audio, visual, f.labels, f.video_ids)
    return GZSLData(data.split, data.text, subsets, dataclasses.replace(data.provenance, details={**data.provenance.details, "ablation": f"{modality} only"}))


def run_model(data: GZSLData, model: str, modality: str, training: dict, config: dict | None = None) -> dict:
    import tempfile

    import torch

    from avzsl.models.registry import get_recipe
    from avzsl.training.run import train

    recipe = get_recipe(model, data.name, training_overrides=training, config_overrides=config or {})
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        metrics = train(recipe, drop_modality(data, modality), Path(out) / "run", device=torch.device("cpu"), progress=False)
    return {**metrics, "seconds": time.perf_counter() - began, "training": recipe.training.__dict__}


def _overrides(items: list[str], model: str) -> dict:
    out = {}
    for item in items:
        name, _, assignment = item.partition(":")
        key, _, value = assignment.partition("=")
        if name == model:
            out[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    return out


def fmt(m: dict) -> str:
    return f"{m['S']:.2f} / {m['U']:.2f} / {m['HM']:.2f} / {m['ZSL']:.2f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", default="UCF")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="*", default=[], choices=["clipclap", "avca", "coge"])
    p.add_argument("--modalities", nargs="*", default=list(MODALITIES), choices=MODALITIES)
    p.add_argument("--training", action="append", default=[], metavar="MODEL:KEY=VALUE",
                   help="schedule override, e.g. avca:epochs=3 (repeatable; default: the reference's)")
    p.add_argument("--config", action="append", default=[], metavar="MODEL:KEY=VALUE",
                   help="architecture override, e.g. coge:mask_reading=keep (repeatable)")
    p.add_argument("--blend", action="store_true", help="also choose and report the open-vocabulary blend α")
    p.add_argument("--json", type=Path, help="also write all results here")
    args = p.parse_args(argv)

    from avzsl.data.synthetic import SyntheticSpec, make_synthetic

    import torch
    print(f"# SYNTHETIC {args.benchmark}-sized data, seed {args.seed}; {platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    data = make_synthetic(SyntheticSpec(benchmark=args.benchmark, seed=args.seed))
    results = {}
    for modality in args.modalities:
        results[f"ridge/{modality}"] = ridge_baseline(data, modality)
        results[f"training-free/{modality}"] = training_free(data, modality)
    for model in args.models:
        training, config = _overrides(args.training, model), _overrides(args.config, model)
        if args.blend:
            training["blend"] = True
        for modality in args.modalities:
            results[f"{model}/{modality}"] = run_model(data, model, modality, training, config)
            r = results[f"{model}/{modality}"]
            print(f"{model}/{modality}: test {fmt(r['test'])}  best epoch {r['best_epoch']}  {r['seconds']:.0f} s", flush=True)
            if args.json:  # after every run, so a long benchmark leaves its partial results
                args.json.write_text(json.dumps(results, indent=2, default=str))
    print("\n| method | modality | test S / U / HM / ZSL | val HM |" + (" with the blend: α, test S / U / HM / ZSL |" if args.blend else ""))
    print("|---|---|---|---|" + ("---|" if args.blend else ""))
    for key, r in results.items():
        method, modality = key.split("/")
        alone = r.get("test_model_only", r["test"]), r.get("val_model_only", r["val"])
        row = f"| {method} | {modality} | {fmt(alone[0])} | {alone[1]['HM']:.2f} |"
        if args.blend:
            row += f" {r['alpha']:.1f}, {fmt(r['test'])} |" if "test_model_only" in r else " — |"
        print(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
