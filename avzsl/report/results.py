"""The numbers of the evaluation report: where a checkpoint fails on the test split, and how checkpoints compare.

    report = build_report(load_checkpoint("checkpoints/clipclap-ucf"), open_data("data/UCF"))
    report.classes[0]          # the class of lowest accuracy: what its videos are taken for, its text neighbours
    report.gamma_curve.HM      # HM (percent) at every γ of the curve

Everything is computed on the test split (stage 2) with the decision `evaluate` makes: the checkpoint's
calibration γ and blend α (or the ones given), so the per-class accuracies average to the reported S and U
(metrics.py) and the γ curve passes through the reported HM at the chosen γ. A report is plain data that
goes to JSON and back (`to_dict` / `from_dict`): training stores one in the checkpoint (REPORT_FILE), so the
app shows the figures without the data set. No plotting here (figures.py) and no HTML (page.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from avzsl.data.errors import DataError
from avzsl.data.features import GZSLData, StageData
from avzsl.data.loading import open_data
from avzsl.io import atomic_write_json, read_json
from avzsl.models.checkpoint import Checkpoint, CheckpointError, check_data_fits, load_checkpoint
from avzsl.models.scoring import blend
from avzsl.training.metrics import gzsl_curve, gzsl_predictions, per_class_accuracy
from avzsl.training.protocol import (BLEND_ALPHAS, class_distances, data_dims, free_distances, scored_distances,
                                     stage_metrics)
from avzsl.validation import check_finite_features

REPORT_FILE = "report.json"  # a checkpoint's own report on its test split, written by training
REPORT_FORMAT = "avzsl-report"
REPORT_VERSION = 1
TAKEN_FOR = 8  # classes kept per class in ClassResult.taken_for, most frequent first
NEIGHBOURS = 5  # text-embedding neighbours kept per class
GAMMA_POINTS = 121  # points of the γ curve


@dataclass
class ClassResult:
    """One test class: how often it is recognised, and what its videos are taken for when not."""

    id: int  # global class id
    name: str
    seen: bool  # a training class of the checkpoint (test seen) or not (test unseen)
    videos: int
    accuracy: float  # percent of its videos decided as it
    to_seen: int  # its videos decided as another, seen class
    to_unseen: int  # its videos decided as another, unseen class
    taken_for: list[tuple[str, int]]  # (class, videos) of the mistakes, most first (TAKEN_FOR at most)
    neighbours: list[str]  # test classes whose text embeddings are closest to its own (cosine), nearest first


@dataclass
class Curve:
    """S, U and HM (percent) as a function of one scoring setting (γ or α), the others kept fixed."""

    setting: str  # "gamma" | "alpha"
    values: list[float]
    S: list[float]
    U: list[float]
    HM: list[float]
    chosen: float  # the value the report's decisions use
    validated: float | None  # the value chosen on validation when the checkpoint was trained

    def at(self, value: float) -> dict:
        i = int(np.argmin(np.abs(np.asarray(self.values) - value)))
        return {"S": self.S[i], "U": self.U[i], "HM": self.HM[i]}

    @property
    def best(self) -> float:
        """The value of highest HM on the test split (hindsight: not a choice a model may make)."""
        return self.values[int(np.argmax(self.HM))]


@dataclass
class ScoringResult:
    """S, U, HM and ZSL (percent) of one way of scoring the test split (the model, one branch, training-free)."""

    key: str  # "model", "model-audio", "model-visual", "free", "free-visual", "free-audio"
    label: str
    S: float
    U: float
    HM: float
    ZSL: float
    gamma: float


@dataclass
class CheckpointReport:
    name: str
    model: str
    dataset: str
    synthetic: bool
    gamma: float  # calibration the decisions use
    alpha: float
    blend_scale: float
    metrics: dict  # {S, U, HM, ZSL} percent, as evaluate() reports them
    classes: list[ClassResult]  # every test class, lowest accuracy first
    gamma_curve: Curve
    alpha_curve: Curve | None  # only for a checkpoint that carries a blend
    scorings: list[ScoringResult]  # the model, its branches where it has them, and the training-free floor
    notes: list[str] = field(default_factory=list)  # what could not be computed, and why

    @property
    def unseen(self) -> list[ClassResult]:
        return [c for c in self.classes if not c.seen]

    @property
    def seen(self) -> list[ClassResult]:
        return [c for c in self.classes if c.seen]

    def to_dict(self) -> dict:
        return {"format": REPORT_FORMAT, "version": REPORT_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict, where: str = REPORT_FILE) -> CheckpointReport:
        if d.get("format") != REPORT_FORMAT or d.get("version") != REPORT_VERSION:
            raise CheckpointError(f"{where} is not an avzsl report of version {REPORT_VERSION}")
        try:
            values = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d}
            values["classes"] = [ClassResult(**{**c, "taken_for": [tuple(t) for t in c["taken_for"]]})
                                 for c in d["classes"]]
            values["gamma_curve"] = Curve(**d["gamma_curve"])
            values["alpha_curve"] = Curve(**d["alpha_curve"]) if d.get("alpha_curve") else None
            values["scorings"] = [ScoringResult(**s) for s in d["scorings"]]
            return cls(**values)
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"{where} is incomplete or damaged: {type(e).__name__} {e}") from None


@dataclass
class Disagreement:
    """A class on which several checkpoints disagree: its accuracy (percent) under each, in report order."""

    name: str
    seen: bool
    accuracies: list[float]

    @property
    def spread(self) -> float:
        return max(self.accuracies) - min(self.accuracies)


def build_report(checkpoint: Checkpoint, data: GZSLData, *, gamma: float | None = None,
                 alpha: float | None = None) -> CheckpointReport:
    """The report of `checkpoint` on the test split of `data` (which must fit it: check_data_fits)."""
    config, model = checkpoint.config, checkpoint.model
    calibration = config.calibration
    gamma = calibration.gamma if gamma is None else float(gamma)
    alpha = calibration.alpha if alpha is None else float(alpha)
    scale = calibration.blend_scale
    device = next(model.parameters()).device
    stage = data.stage(2)
    text = torch.from_numpy(data.text.embeddings).to(device)  # (K_all, D_t)
    dims = data_dims(data)
    labels, eval_classes = stage.eval.labels, stage.eval_classes
    seen_column = torch.from_numpy(np.isin(eval_classes, stage.seen_classes))  # (K_eval,)

    distances, zsl = scored_distances(model, stage, text, alpha=alpha, blend_scale=scale, dims=dims)  # (N, K_eval)
    metrics = stage_metrics(stage, distances, zsl, np.array([gamma])).scores()
    predicted = gzsl_predictions(distances, eval_classes, seen_column.to(distances.device), gamma)  # (N,)

    recipe = config.recipe
    gammas = _gamma_grid(recipe.training.gamma_grid, gamma, calibration.gamma)
    curve = 100 * gzsl_curve(distances, labels, eval_classes, stage.seen_classes, stage.unseen_classes, gammas)
    gamma_curve = Curve("gamma", gammas.tolist(), *curve.T.tolist(), chosen=gamma, validated=calibration.gamma)

    notes: list[str] = []
    alpha_curve = None
    if alpha or calibration.alpha or recipe.training.blend:  # trained with the blend, or asked for one
        alpha_curve = _alpha_curve(model, stage, text, dims, gamma, alpha, calibration.alpha, scale)
    scorings = [ScoringResult("model", f"{config.model_name} ({_modality(recipe)})", **metrics, gamma=gamma),
                *_other_scorings(model, stage, text, dims, gamma, config.model_name, notes)]

    return CheckpointReport(
        name=checkpoint.path.name, model=config.model_name, dataset=data.name, synthetic=config.synthetic,
        gamma=gamma, alpha=alpha, blend_scale=scale, metrics=metrics,
        classes=_class_results(data, stage, predicted), gamma_curve=gamma_curve, alpha_curve=alpha_curve,
        scorings=scorings, notes=notes)


def build_reports(checkpoints: list[str | Path], data_path: str | Path, *, dataset: str | None = None,
                  gamma: float | None = None, alpha: float | None = None, device="cpu") -> list[CheckpointReport]:
    """Reports of several checkpoint folders on the test split of one data set (read once per text alignment)."""
    reports, opened = [], {}
    for path in checkpoints:
        checkpoint = load_checkpoint(path, device)
        alignment = checkpoint.config.text_alignment
        opened[alignment] = open_fitting_data(checkpoint, data_path, dataset, opened.get(alignment))
        reports.append(build_report(checkpoint, opened[alignment], gamma=gamma, alpha=alpha))
    names = [r.name for r in reports]
    for i, report in enumerate(reports):  # two folders of one name (runs/a/ckpt, runs/b/ckpt): tell them apart
        if names.count(report.name) > 1:
            report.name = str(Path(checkpoints[i]))
    return reports


def open_fitting_data(checkpoint: Checkpoint, data_path: str | Path, dataset: str | None = None,
                      opened: GZSLData | None = None) -> GZSLData:
    """The data set at `data_path` (or `opened`, already read with the checkpoint's text alignment), refused with
    one line when its feature sizes differ from the checkpoint's or a feature is not finite."""
    data = opened or open_data(data_path, dataset, text_alignment=checkpoint.config.text_alignment)
    check_data_fits(checkpoint, data_dims(data))
    check_finite_features(data, DataError)
    return data


def disagreements(reports: list[CheckpointReport]) -> list[Disagreement]:
    """Classes present in every report, the largest spread of accuracy between checkpoints first."""
    by_name = [{c.name: c for c in r.classes} for r in reports]
    shared = [n for n in by_name[0] if all(n in b for b in by_name[1:])]
    rows = [Disagreement(n, by_name[0][n].seen, [b[n].accuracy for b in by_name]) for n in shared]
    return sorted(rows, key=lambda d: (-d.spread, d.name))


def save_report(folder: str | Path, report: CheckpointReport) -> None:
    atomic_write_json(Path(folder) / REPORT_FILE, report.to_dict())


def load_report(folder: str | Path) -> CheckpointReport | None:
    """The report a checkpoint folder stores (None when it has none: trained before reports existed)."""
    file = Path(folder) / REPORT_FILE
    if not file.is_file():
        return None
    return CheckpointReport.from_dict(read_json(file, CheckpointError, "report"), str(file))


# --- the parts ------------------------------------------------------------------------------------------------


def _modality(recipe) -> str:
    modality = getattr(recipe.config, "modality", "both")  # ClipClap can be trained on one modality
    return {"both": "sound + picture", "audio": "sound only", "visual": "picture only"}.get(modality, modality)


def _gamma_grid(grid, *marked: float) -> np.ndarray:
    """GAMMA_POINTS values over the recipe's γ search range (widened to the marked values), plus those values."""
    low, high = min(float(grid[0]), *marked), max(float(grid[1]), *marked)
    return np.unique(np.concatenate([np.linspace(low, high, GAMMA_POINTS), np.asarray(marked, dtype=np.float64)]))


def _alpha_curve(model, stage: StageData, text, dims, gamma: float, alpha: float, validated: float,
                 scale: float) -> Curve:
    """S, U, HM over the blend weights α (the training search grid and the chosen α) at the chosen γ."""
    alphas = np.unique(np.concatenate([np.asarray(BLEND_ALPHAS, dtype=np.float64), [alpha, validated]]))
    model_d, _ = scored_distances(model, stage, text)
    free_d, _ = free_distances(stage, text, dims)
    rows = []
    for a in alphas:
        rows.append(gzsl_curve(blend(model_d, free_d, a, scale), stage.eval.labels, stage.eval_classes, stage.seen_classes,
                               stage.unseen_classes, [gamma])[0])
    s, u, hm = (100 * np.asarray(rows)).T.tolist()
    return Curve("alpha", alphas.tolist(), s, u, hm, chosen=alpha, validated=validated)


def _other_scorings(model, stage: StageData, text, dims, gamma: float, model_name: str,
                    notes: list[str]) -> list[ScoringResult]:
    """Each modality's own branch of a model that has them (CoGe), at the model's γ; then the training-free
    CLIP/CLAP cosine score (γ = 0: it has no calibration), both and each modality, or a note why not."""
    ways = []  # (key, label, γ, (N, K_eval) distances, (N, K_unseen) ZSL distances)
    for branch in model.branches:
        label = {"audio": "sound branch", "visual": "picture branch"}.get(branch, f"{branch} branch")
        ways.append((f"model-{branch}", f"{model_name}, {label} alone", gamma,
                     class_distances(model, stage.eval, text, stage.eval_classes, branch=branch),
                     class_distances(model, stage.eval, text, np.sort(stage.unseen_classes), branch=branch)))
    try:
        for modality, key, label in (("both", "free", "training-free CLIP + CLAP"),
                                     ("visual", "free-visual", "training-free, picture (CLIP)"),
                                     ("audio", "free-audio", "training-free, sound (CLAP)")):
            ways.append((key, label, 0.0, *free_distances(stage, text, dims, modality)))
    except (ValueError, KeyError) as e:  # features and text of other encoders, or no CLIP / CLAP text part
        notes.append(f"No training-free floor: {e.args[0] if e.args else e}.")
    return [ScoringResult(key, label, **stage_metrics(stage, d, zsl, np.array([g])).scores(), gamma=g)
            for key, label, g, d, zsl in ways]


def _class_results(data: GZSLData, stage: StageData, predicted: np.ndarray) -> list[ClassResult]:
    labels, eval_classes = stage.eval.labels, stage.eval_classes
    seen = set(stage.seen_classes.tolist())
    accuracy = per_class_accuracy(predicted, labels, eval_classes)  # (K_eval,)
    counts = np.bincount(labels, minlength=data.split.num_classes)
    names = data.split.class_names
    neighbours = _text_neighbours(data.text.embeddings, eval_classes)
    results = []
    for i, c in enumerate(eval_classes.tolist()):
        wrong = predicted[(labels == c) & (predicted != c)]
        ids, n = np.unique(wrong, return_counts=True)
        order = np.lexsort((ids, -n))  # most frequent first, then by id
        to_seen = int(sum(k for j, k in zip(ids, n) if j in seen))
        results.append(ClassResult(
            id=c, name=names[c], seen=c in seen, videos=int(counts[c]), accuracy=float(100 * accuracy[i]),
            to_seen=to_seen, to_unseen=int(len(wrong) - to_seen),
            taken_for=[(names[ids[j]], int(n[j])) for j in order[:TAKEN_FOR]],
            neighbours=[names[eval_classes[j]] for j in neighbours[i]]))
    return sorted(results, key=lambda r: (r.accuracy, r.seen, r.name))


def _text_neighbours(text: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(K, NEIGHBOURS) positions in `classes` of each class's nearest classes by cosine of their text embeddings."""
    t = text[classes].astype(np.float64)  # (K, D_t)
    t /= np.linalg.norm(t, axis=1, keepdims=True).clip(1e-12)
    similarity = t @ t.T  # (K, K)
    np.fill_diagonal(similarity, -np.inf)
    k = min(NEIGHBOURS, len(classes) - 1)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]
