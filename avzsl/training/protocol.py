"""The two-stage GZSL protocol (reference §7.4 and §8).

Stage 1 trains on `stage_1_train` and evaluates on the validation set after every epoch; the epoch of
highest validation HM (first maximum) and its calibration γ are kept. Stage 2 retrains from the same seed
on train ∪ val for best epoch + 1 epochs and is tested once, with that γ. (AVCA's reference trains stage 2
for all epochs and then loads epoch e*; training is deterministic, so stopping after e* + 1 epochs gives
the same model.) In both stages the validation HM drives ReduceLROnPlateau, as in the reference.

Speed: the whole training set lives on the device as three tensors and a batch is an index into them, so
batch assembly costs one gather; validation runs the evaluation set in large chunks without gradients.
Every finished epoch is saved (atomically) under `<out>/.resume/`, so an interrupted run resumes from the
last finished epoch and ends with exactly the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from avzsl.data.features import Features, GZSLData, StageData
from avzsl.io import AvzslError, atomic_save_tensors, atomic_write_json
from avzsl.models.base import Batch, GZSLModel, InputDims
from avzsl.models.registry import Recipe
from avzsl.models.scoring import blend, training_free_distances
from avzsl.training.metrics import GZSLMetrics, gzsl_metrics

log = logging.getLogger(__name__)

EVAL_CHUNK = 8192  # samples per forward pass when evaluating
BLEND_ALPHAS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))  # the open-vocabulary blend's grid: 0, 0.1, ..., 1


def data_dims(data: GZSLData) -> InputDims:
    return InputDims(data.audio_dim, data.visual_dim, data.text.parts)


@dataclass
class EpochRecord:
    stage: int
    epoch: int  # 0-based
    losses: dict[str, float]
    val: dict  # GZSLMetrics.to_dict() on the validation set
    lr: float
    seconds: float
    val_blend: dict | None = None  # with the open-vocabulary blend searched (TrainingConfig.blend), else None


@dataclass
class StageResult:
    stage: int
    best_epoch: int
    best_val: GZSLMetrics
    history: list[EpochRecord] = field(default_factory=list)
    best_val_blend: GZSLMetrics | None = None  # the blend search at the best epoch (which is chosen without it)


class BalancedBatches:
    """Class-balanced sampling with replacement (reference §5.4): a class uniformly, then a video of it.

    This draws from the same distribution as the reference's per-sample weights 1 / (K · n_class), without
    building a weight vector over all N videos. Negatives (for triplet models) are a video of a class drawn
    uniformly among the other training classes.
    """

    def __init__(self, target: torch.Tensor, num_classes: int):
        self.order = torch.argsort(target, stable=True)  # video positions grouped by class
        self.counts = torch.bincount(target, minlength=num_classes)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.num_classes = num_classes

    def _video_of(self, classes: torch.Tensor) -> torch.Tensor:
        offset = (torch.rand(classes.shape, device=classes.device) * self.counts[classes]).long()
        return self.order[self.starts[classes] + offset]

    def draw(self, n: int) -> torch.Tensor:
        return self._video_of(torch.randint(self.num_classes, (n,), device=self.order.device))

    def negatives(self, target: torch.Tensor) -> torch.Tensor:
        shift = torch.randint(1, self.num_classes, target.shape, device=target.device)
        return self._video_of((target + shift) % self.num_classes)


class NonFiniteLossError(AvzslError, ArithmeticError):
    """Training diverged (a NaN or infinite loss); nothing of the failed epoch was saved."""


class StageTrainer:
    """Trains one stage of the protocol; `run` resumes from `state_dir` when a previous run left state there."""

    def __init__(self, recipe: Recipe, data: GZSLData, stage: int, device: torch.device, *,
                 validation: StageData | None = None, progress: bool = True):
        self.recipe, self.stage, self.device, self.progress = recipe, stage, device, progress
        self.training = recipe.training
        self.stage_data = data.stage(stage)
        # Stage 2 is still "validated" on the stage-1 validation set, which drives the LR schedule.
        self.validation = validation or (self.stage_data if stage == 1 else data.stage(1))
        self.dims = data_dims(data)
        self.text = torch.from_numpy(data.text.embeddings).to(device)  # (K_all, D_t)

        train = self.stage_data.train
        classes = torch.from_numpy(self.stage_data.train_classes).to(device)
        rank = torch.full((data.split.num_classes,), -1, dtype=torch.long, device=device)
        rank[classes] = torch.arange(len(classes), device=device)
        self.audio = torch.from_numpy(train.audio).to(device)  # (N, D_a)
        self.visual = torch.from_numpy(train.visual).to(device)  # (N, D_v)
        self.target = rank[torch.from_numpy(train.labels).to(device)]  # (N,) rank among training classes
        self.class_text = self.text[classes]  # (K_train, D_t), row r = class of rank r
        self.batches = BalancedBatches(self.target, len(classes))

    def new_model(self) -> tuple[GZSLModel, torch.optim.Optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau]:
        np.random.seed(self.training.seed)  # as the reference; nothing draws from it, so resuming needs torch's RNG only
        torch.manual_seed(self.training.seed)  # also seeds every CUDA device
        model = self.recipe.build(self.dims).to(self.device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        # The fused kernel does the same update in one pass over the weights: Adam was 40 % of a CPU step.
        optimizer = torch.optim.Adam(trainable, lr=self.training.lr, weight_decay=self.training.weight_decay, fused=True)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=self.training.lr_factor, patience=self.training.lr_patience
        )
        return model, optimizer, scheduler

    def train_epoch(self, model: GZSLModel, optimizer: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        model.train()
        cfg = self.training
        draws = self.batches.draw(cfg.batches_per_epoch * cfg.batch_size).view(cfg.batches_per_epoch, cfg.batch_size)
        totals: dict[str, torch.Tensor] = {}
        steps = tqdm(draws, desc=f"stage {self.stage} epoch {epoch + 1}", leave=False, disable=not self.progress, unit="batch")
        for index in steps:
            target = self.target[index]
            batch = Batch(self.audio[index], self.visual[index], self.class_text[target], target)
            if model.needs_negatives:
                negative = self.batches.negatives(target)
                batch.neg_audio, batch.neg_visual = self.audio[negative], self.visual[negative]
                batch.neg_text = self.class_text[self.target[negative]]
            losses = model.training_losses(batch, self.class_text)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            model.after_step(batch)  # e.g. AVCA's reference BatchNorm side passes
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value.detach()
        losses = {name: float(total) / cfg.batches_per_epoch for name, total in totals.items()}
        if not all(map(math.isfinite, losses.values())):  # a sum is finite only if every batch's loss was
            raise NonFiniteLossError(
                f"stage {self.stage} epoch {epoch + 1}: the training loss became non-finite ({losses}); the state "
                f"after epoch {epoch} is kept: fix the cause and run the same command again to resume from there")
        return losses

    def run(self, epochs: int, state_dir: Path | None = None,
            on_epoch_end: Callable[[EpochRecord], None] | None = None) -> tuple[GZSLModel, StageResult]:
        model, optimizer, scheduler = self.new_model()
        result = StageResult(self.stage, best_epoch=-1, best_val=None)
        start = 0
        if state_dir is not None and (state_dir / f"stage{self.stage}.json").is_file():
            start, result = load_stage_state(state_dir, self.stage, model, optimizer, scheduler)
            log.info("stage %d: resuming after epoch %d", self.stage, start)
        gammas = np.linspace(*self.training.gamma_grid[:2], int(self.training.gamma_grid[2]))
        for epoch in range(start, epochs):
            began = time.perf_counter()
            losses = self.train_epoch(model, optimizer, epoch)
            val = evaluate(model, self.validation, self.text, gammas)
            # The blend is a scoring setting searched on the side: epochs, the LR schedule and every number
            # of the model alone stay exactly those of the reference protocol.
            searched = self.training.blend and self.stage == 1  # stage 2 reuses stage 1's choice
            blended = search_blend(model, self.validation, self.text, gammas, self.dims) if searched else None
            scheduler.step(val.HM / 100)  # the reference steps on HM in [0, 1]
            # The first epoch is always kept; later ones only if strictly better (reference §7.4).
            if result.best_val is None or val.HM > result.best_val.HM:
                result.best_epoch, result.best_val, result.best_val_blend = epoch, val, blended
            record = EpochRecord(self.stage, epoch, losses, val.to_dict(), optimizer.param_groups[0]["lr"],
                                 time.perf_counter() - began, blended.to_dict() if blended else None)
            result.history.append(record)
            log.info(
                "stage %d epoch %2d/%d  loss %.4f  val S %5.2f U %5.2f HM %5.2f ZSL %5.2f (γ %.3f)  lr %.1e  %.1fs",
                self.stage, epoch + 1, epochs, losses["loss"], val.S, val.U, val.HM, val.ZSL, val.gamma,
                record.lr, record.seconds,
            )
            if state_dir is not None:
                save_stage_state(state_dir, self.stage, epoch + 1, result, model, optimizer, scheduler)
            if on_epoch_end is not None:
                on_epoch_end(record)
        return model, result


def class_distances(model: GZSLModel, features: Features, text: torch.Tensor, classes: np.ndarray,
                    branch: str | None = None) -> torch.Tensor:
    """(N, len(classes)) distances of every sample to every listed class (see `distance_sets`)."""
    return distance_sets(model, features, text, [classes], branch)[0]


@torch.inference_mode()
def distance_sets(model: GZSLModel, features: Features, text: torch.Tensor, class_sets: list[np.ndarray],
                  branch: str | None = None) -> list[torch.Tensor]:
    """[(N, len(classes)) for classes in class_sets]: every sample's distances to each set's classes, in eval mode, in
    chunks, the videos embedded once per chunk; `branch` ("audio" | "visual"): that branch's own distances
    (GZSLModel.branch_distances) instead of the model's."""
    model.eval()
    texts = [text[torch.from_numpy(np.asarray(classes)).to(text.device)] for classes in class_sets]  # (K_i, D_t)
    chunks = []
    for start in range(0, len(features), EVAL_CHUNK):
        audio = torch.from_numpy(features.audio[start : start + EVAL_CHUNK]).to(text.device)
        visual = torch.from_numpy(features.visual[start : start + EVAL_CHUNK]).to(text.device)
        if branch is None:
            chunks.append(model.distances_to_sets(audio, visual, texts))
        else:
            chunks.append([model.branch_distances(audio, visual, t)[branch] for t in texts])
    return [torch.cat(parts) for parts in zip(*chunks)]


def evaluate(model: GZSLModel, stage_data: StageData, text: torch.Tensor, gammas, *, alpha: float = 0.0,
             blend_scale: float = 1.0, dims: InputDims | None = None) -> GZSLMetrics:
    """S, U, HM (with the γ search over `gammas`) and ZSL of `model` on the stage's evaluation set.

    ZSL asks the model about the unseen classes alone: a model whose scores are normalised over the classes
    it is given (CoGe's softmaxes) then normalises over the unseen classes, as zero-shot scoring means.
    alpha > 0 blends in the training-free distances (scoring.blend; `dims` says where the text parts are).
    """
    distances, zsl_distances = scored_distances(model, stage_data, text, alpha=alpha, blend_scale=blend_scale, dims=dims)
    return stage_metrics(stage_data, distances, zsl_distances, gammas, alpha, blend_scale)


def stage_metrics(stage_data: StageData, distances: torch.Tensor, zsl_distances: torch.Tensor, gammas,
                  alpha: float = 0.0, blend_scale: float = 1.0) -> GZSLMetrics:
    """gzsl_metrics of the evaluation set's (N, K_eval) and ZSL (N, K_unseen) distances, scored with blend α."""
    metrics = gzsl_metrics(distances, stage_data.eval.labels, stage_data.eval_classes, stage_data.seen_classes,
                           stage_data.unseen_classes, gammas, zsl_distances=zsl_distances)
    return dataclasses.replace(metrics, alpha=float(alpha), blend_scale=float(blend_scale))


def scored_distances(model: GZSLModel, stage_data: StageData, text: torch.Tensor, *, alpha: float = 0.0,
                     blend_scale: float = 1.0, dims: InputDims | None = None):
    """The (N, K_eval) distances that `evaluate` decides on (before γ) and the (N, K_unseen) ones of ZSL;
    alpha > 0 blends in the training-free distances."""
    distances, zsl_distances = _eval_distances(model, stage_data, text)
    if alpha:
        free, free_zsl = free_distances(stage_data, text, dims)
        distances, zsl_distances = (blend(distances, free, alpha, blend_scale),
                                    blend(zsl_distances, free_zsl, alpha, blend_scale))
    return distances, zsl_distances


def search_blend(model: GZSLModel, stage_data: StageData, text: torch.Tensor, gammas, dims: InputDims) -> GZSLMetrics:
    """The open-vocabulary blend weight α in BLEND_ALPHAS and γ in `gammas` of highest HM (the first on ties).

    The training-free distances are first put on the spread of the model's (blend_scale = std of the
    model's distances / std of the training-free ones, on this evaluation set), so that α is the share of
    weight each side gets whatever the scale of the model's joint space.
    """
    distances, zsl_distances = _eval_distances(model, stage_data, text)
    free, free_zsl = free_distances(stage_data, text, dims)
    scale = float(distances.std() / free.std().clamp_min(1e-12))
    searched = (stage_metrics(stage_data, blend(distances, free, alpha, scale), blend(zsl_distances, free_zsl, alpha, scale),
                              gammas, alpha, scale) for alpha in BLEND_ALPHAS)
    return max(searched, key=lambda metrics: metrics.HM)  # max keeps the first of equal HMs


def _eval_distances(model: GZSLModel, stage_data: StageData, text: torch.Tensor):
    """The model's (N, K_eval) distances and its (N, K_unseen) distances when asked about the unseen alone."""
    return distance_sets(model, stage_data.eval, text, [stage_data.eval_classes, np.sort(stage_data.unseen_classes)])


def free_distances(stage_data: StageData, text: torch.Tensor, dims: InputDims | None, modality: str = "both"):
    """Training-free (N, K_eval) and (N, K_unseen) distances: picture to the visual text, sound to the audio text
    (`modality` "audio" or "visual": that one alone).

    Needs features and text parts of the same encoders (visual = the "clip" part's size, audio = "clap"'s)."""
    if dims is None:
        raise ValueError("the open-vocabulary blend needs the data's text parts (dims)")
    visual_part, audio_part = dims.text_slice("clip"), dims.text_slice("clap")
    if (visual_part.stop - visual_part.start, audio_part.stop - audio_part.start) != (dims.visual, dims.audio):
        raise ValueError(f"the open-vocabulary blend needs text of the features' own encoders; the data has visual "
                         f"{dims.visual}-d and audio {dims.audio}-d features but text parts {list(dims.text_parts)}")
    device = text.device
    audio = torch.from_numpy(stage_data.eval.audio).to(device) if modality != "visual" else None  # (N, D_a)
    visual = torch.from_numpy(stage_data.eval.visual).to(device) if modality != "audio" else None  # (N, D_v)

    def free(classes):
        t = text[torch.from_numpy(np.asarray(classes)).to(device)]  # (K, D_t)
        return training_free_distances(audio, visual, t[:, visual_part], t[:, audio_part])

    return free(stage_data.eval_classes), free(np.sort(stage_data.unseen_classes))


# --- resumable state -----------------------------------------------------------------------------------

def save_stage_state(state_dir: Path, stage: int, epochs_done: int, result: StageResult, model: GZSLModel,
                     optimizer: torch.optim.Optimizer, scheduler) -> None:
    """Everything needed to continue after `epochs_done` epochs: weights, Adam moments, schedule, RNG."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_state = optimizer.state_dict()
    for index, slots in optim_state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{index}.{slot}"] = torch.as_tensor(value).cpu().contiguous()
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda{i}"] = state
    state_dir.mkdir(parents=True, exist_ok=True)
    atomic_save_tensors(state_dir / f"stage{stage}.safetensors", tensors)
    scheduler_state = {k: v for k, v in scheduler.state_dict().items() if k != "optimizer"}
    atomic_write_json(state_dir / f"stage{stage}.json", {
        "epochs_done": epochs_done,
        "best_epoch": result.best_epoch,
        "best_val": result.best_val.to_dict(),
        "best_val_blend": result.best_val_blend.to_dict() if result.best_val_blend else None,
        "history": [r.__dict__ for r in result.history],
        "param_groups": optim_state["param_groups"],
        "scheduler": scheduler_state,
    })


def load_stage_state(state_dir: Path, stage: int, model: GZSLModel, optimizer, scheduler) -> tuple[int, StageResult]:
    meta = json.loads((state_dir / f"stage{stage}.json").read_text())
    tensors = load_file(str(state_dir / f"stage{stage}.safetensors"))
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, slot = key.split(".", 2)
            state.setdefault(int(index), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    scheduler.load_state_dict({**scheduler.state_dict(), **meta["scheduler"]})
    torch.set_rng_state(tensors["rng.cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda")]
        if states:
            torch.cuda.set_rng_state_all(states)
    blended = meta.get("best_val_blend")
    result = StageResult(stage, meta["best_epoch"], GZSLMetrics(**meta["best_val"]),
                         [EpochRecord(**r) for r in meta["history"]], GZSLMetrics(**blended) if blended else None)
    return meta["epochs_done"], result
