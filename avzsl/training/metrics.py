"""GZSL metrics with calibrated stacking (reference §7).

S and U are mean per-class accuracies over the seen and unseen classes of a GZSL prediction over
seen ∪ unseen; HM = 2US / (U + S + eps); ZSL is the mean per-class accuracy of unseen samples when only
unseen classes can be predicted. All are reported in percent. Calibrated stacking adds γ to the distance
of every seen class, pushing predictions towards unseen classes; γ is chosen on validation only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from avzsl.models.scoring import calibrate

EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class GZSLMetrics:
    S: float  # percent
    U: float
    HM: float
    ZSL: float
    gamma: float
    alpha: float = 0.0  # open-vocabulary blend weight the scores were computed with (0: the model alone)
    blend_scale: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)

    def scores(self) -> dict:
        """S, U, HM and ZSL alone (percent)."""
        return {"S": self.S, "U": self.U, "HM": self.HM, "ZSL": self.ZSL}


def per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(C,) fraction of each of `classes`' samples predicted as it (0..1); NaN for a class with no samples."""
    size = int(max(labels.max(initial=0), np.max(classes, initial=0))) + 1
    totals = np.bincount(labels, minlength=size)[classes]  # (C,)
    hits = np.bincount(labels[predicted == labels], minlength=size)[classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, hits / np.maximum(totals, 1), np.nan)


def mean_per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    """Mean over `classes` (those with samples) of the fraction of that class's samples predicted as it (0..1)."""
    accuracy = per_class_accuracy(predicted, labels, classes)
    present = ~np.isnan(accuracy)
    return float(np.mean(accuracy[present])) if present.any() else 0.0


def gzsl_metrics(
    distances: torch.Tensor | np.ndarray,
    labels: np.ndarray,
    eval_classes: np.ndarray,
    seen_classes: np.ndarray,
    unseen_classes: np.ndarray,
    gammas: np.ndarray | float,
    zsl_distances: torch.Tensor | np.ndarray | None = None,
) -> GZSLMetrics:
    """Metrics of a (N, K_eval) distance matrix whose columns are `eval_classes` (sorted global ids).

    With several `gammas` the first γ of highest HM is kept (as the reference does); with one it is applied.
    `zsl_distances` (N, K_unseen), columns = sorted `unseen_classes`, are the model's distances when it is
    asked about the unseen classes alone; ZSL uses them when given, else the unseen columns of `distances`
    (the same thing for models whose distance to a class does not depend on the other classes).
    """
    distances = torch.as_tensor(distances, dtype=torch.float32)
    curve = gzsl_curve(distances, labels, eval_classes, seen_classes, unseen_classes, gammas)  # (G, 3)
    best = int(np.argmax(curve[:, 2]))  # the first γ of highest HM
    # ZSL: the unseen classes alone; independent of γ.
    zsl_classes = np.sort(np.asarray(unseen_classes))
    if zsl_distances is None:  # the unseen columns of `distances`
        unseen_column = np.isin(eval_classes, unseen_classes)  # (K_eval,)
        zsl_classes = np.asarray(eval_classes)[unseen_column]
        zsl_distances = distances[:, torch.from_numpy(unseen_column).to(distances.device)]
    predicted = zsl_classes[torch.argmin(torch.as_tensor(zsl_distances, dtype=torch.float32), dim=1).cpu().numpy()]
    zsl = mean_per_class_accuracy(predicted, np.asarray(labels), np.asarray(unseen_classes))
    s, u, hm = curve[best]
    return GZSLMetrics(100 * s, 100 * u, 100 * hm, 100 * zsl, float(np.atleast_1d(gammas)[best]))


def gzsl_predictions(distances: torch.Tensor, eval_classes: np.ndarray, seen_column: torch.Tensor,
                     gamma: float) -> np.ndarray:
    """(N,) global class id of every sample's calibrated decision; `distances` (N, K_eval), columns `eval_classes`."""
    return eval_classes[torch.argmin(calibrate(distances, seen_column, gamma), dim=1).cpu().numpy()]


def gzsl_curve(distances, labels: np.ndarray, eval_classes: np.ndarray, seen_classes: np.ndarray,
               unseen_classes: np.ndarray, gammas) -> np.ndarray:
    """(G, 3) S, U and HM (0..1) at every γ of `gammas`: the calibration curve that the γ search walks."""
    distances = torch.as_tensor(distances, dtype=torch.float32)
    eval_classes = np.asarray(eval_classes)
    seen_column = torch.from_numpy(np.isin(eval_classes, seen_classes)).to(distances.device)  # (K_eval,)
    rows = []
    for gamma in np.atleast_1d(np.asarray(gammas, dtype=np.float64)):
        predicted = gzsl_predictions(distances, eval_classes, seen_column, gamma)
        s = mean_per_class_accuracy(predicted, labels, np.asarray(seen_classes))
        u = mean_per_class_accuracy(predicted, labels, np.asarray(unseen_classes))
        rows.append((s, u, 2 * u * s / (u + s + EPS)))  # HM, the harmonic mean
    return np.asarray(rows, dtype=np.float64)
