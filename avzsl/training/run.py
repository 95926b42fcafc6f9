"""A whole training run: stage 1, stage 2, test, checkpoint bundle; `python -m avzsl.train` then adds report.json."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from avzsl.data.features import GZSLData
from avzsl.io import AvzslError, atomic_write_bytes, atomic_write_json, strict_json
from avzsl.models.registry import Recipe
from avzsl.maps.atlas import DEFAULT_PER_CLASS, build_atlas, save_atlas
from avzsl.models.checkpoint import METRICS, Calibration, CheckpointConfig, ClassNames, save_checkpoint, save_metrics
from avzsl.training.protocol import StageTrainer, data_dims, evaluate
from avzsl.validation import check_finite_features

log = logging.getLogger(__name__)
RESUME_DIR = ".resume"


class RunExistsError(AvzslError, FileExistsError):
    """The output folder already holds a finished run or the state of a different one."""


class NonFiniteDataError(AvzslError, ValueError):
    """The training data holds NaN or infinite values; the message names the subset and the first row."""


def run_fingerprint(recipe: Recipe, data: GZSLData) -> dict:
    """What must match for a run to be resumed from saved state."""
    return {
        "recipe": recipe.to_dict(),
        "dataset": data.name,
        "dims": data_dims(data).to_dict(),
        "subset_sizes": {name: len(f) for name, f in data.subsets.items()},
        "text_alignment": data.text.alignment,
    }


def train(recipe: Recipe, data: GZSLData, out: Path, *, device: torch.device, progress: bool = True,
          atlas_per_class: int = DEFAULT_PER_CLASS, overwrite: bool = False, on_epoch_end=None) -> dict:
    """Train both stages, test, and write the bundle to `out`; returns the metrics dict.

    Interrupted runs resume from `out/.resume/` when called again with the same recipe and data.
    """
    out = Path(out)
    state_dir = out / RESUME_DIR
    if (out / METRICS).is_file():
        if not overwrite:
            raise RunExistsError(f"{out} already holds a finished run ({METRICS}); choose another --out or pass --overwrite")
        shutil.rmtree(out)
    check_finite_features(data, NonFiniteDataError)  # before anything is written: a NaN row makes every loss NaN
    fingerprint = run_fingerprint(recipe, data)
    if (state_dir / "run.json").is_file():
        saved = json.loads((state_dir / "run.json").read_text())
        if saved != json.loads(json.dumps(fingerprint)):
            raise RunExistsError(f"{out} holds the unfinished state of a different run (other recipe or data); "
                                 "choose another --out or pass --overwrite")
        log.info("resuming the unfinished run in %s", out)
    elif overwrite and state_dir.exists():
        shutil.rmtree(state_dir)
    atomic_write_json(state_dir / "run.json", fingerprint)

    stage1 = StageTrainer(recipe, data, 1, device, progress=progress)
    _, result1 = stage1.run(recipe.training.epochs, state_dir, on_epoch_end)
    gamma, best_epoch = result1.best_val.gamma, result1.best_epoch
    log.info("stage 1: best epoch %d (val HM %.2f), calibration γ %.4f", best_epoch + 1, result1.best_val.HM, gamma)

    stage2 = StageTrainer(recipe, data, 2, device, validation=stage1.stage_data, progress=progress)
    model, result2 = stage2.run(best_epoch + 1, state_dir, on_epoch_end)
    test = evaluate(model, stage2.stage_data, stage2.text, np.array([gamma]))
    log.info("test: S %.2f  U %.2f  HM %.2f  ZSL %.2f", test.S, test.U, test.HM, test.ZSL)
    metrics = {"val": result1.best_val.scores(), "test": test.scores()}
    calibration = Calibration(gamma=gamma)
    blended = result1.best_val_blend
    if blended is not None:  # the open-vocabulary blend: the same model, scored with α and its own γ
        calibration = Calibration(gamma=blended.gamma, alpha=blended.alpha, blend_scale=blended.blend_scale)
        test_blend = evaluate(model, stage2.stage_data, stage2.text, np.array([blended.gamma]), alpha=blended.alpha,
                              blend_scale=blended.blend_scale, dims=stage2.dims)
        log.info("with the blend (α %.1f, γ %.4f): val HM %.2f, test S %.2f  U %.2f  HM %.2f  ZSL %.2f", blended.alpha,
                 blended.gamma, blended.HM, test_blend.S, test_blend.U, test_blend.HM, test_blend.ZSL)
        metrics = {"val": blended.scores(), "test": test_blend.scores(),
                   "val_model_only": metrics["val"], "test_model_only": metrics["test"]}
    split = data.split
    config = CheckpointConfig(
        recipe=recipe,
        input_dims=data_dims(data),
        data=data.provenance,
        dataset=data.name,
        classes=ClassNames(
            all=tuple(split.class_names),
            prompt_names=tuple(split.prompt_names),
            train=tuple(split.names(stage2.stage_data.train_classes)),
            test_seen=tuple(split.names(stage2.stage_data.seen_classes)),
            test_unseen=tuple(split.names(stage2.stage_data.unseen_classes)),
        ),
        calibration=calibration,
        best_epoch=best_epoch,
        seed=recipe.training.seed,
        text_alignment=data.text.alignment,
    )
    save_checkpoint(out, model, config)
    save_atlas(out, build_atlas(model, data, device, per_class=atlas_per_class))
    log_lines = "".join(strict_json(record.__dict__) + "\n" for record in result1.history + result2.history)
    atomic_write_bytes(out / "train_log.jsonl", log_lines.encode("utf-8"))
    save_metrics(out, metrics)  # written last: it marks a finished run
    shutil.rmtree(state_dir, ignore_errors=True)
    return {**metrics, **dataclasses.asdict(calibration), "best_epoch": best_epoch}
