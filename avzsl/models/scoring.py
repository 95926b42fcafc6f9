"""From distances to a ranking: calibrated stacking, confidences and ranks. Where every ranking is computed.

    >>> import numpy as np
    >>> from avzsl.models.scoring import calibrate, rank
    >>> seen = [True, False]                                 # "dog" is a training class, "wolf" is not
    >>> d = calibrate(np.array([1.0, 1.3]), seen, gamma=0.5)  # γ on the seen column
    >>> d.tolist()
    [1.5, 1.3]
    >>> [(s.rank, s.label, round(s.confidence, 3)) for s in rank(["dog", "wolf"], d, temperature=1.0, seen=seen)]
    [(1, 'wolf', 0.55), (2, 'dog', 0.45)]

The same `calibrate` serves the GZSL metrics (training/metrics.py) and the prediction service, so a
ranking in the app is decided exactly as in evaluation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Confidence = softmax(−distance / τ). Cosine distances (1 − cos) get CLIP's logit scale of 100; the
# joint spaces of trained models are already on the scale their losses were trained at.
COSINE_TEMPERATURE = 0.01
JOINT_TEMPERATURE = 1.0


def calibrate(distances, seen, gamma: float):
    """Calibrated stacking (reference §7.2): γ added to the distance of every seen class.

    distances: (..., K) numpy array or torch tensor; seen: (K,) bool mask of the same kind (or a list).
    A positive γ pushes decisions towards unseen classes. For CoGe, whose distance is −log p, this is a
    division of p by e^γ.
    """
    if hasattr(distances, "new_tensor"):  # torch: keep the device and dtype
        seen = distances.new_tensor(seen, dtype=distances.dtype) if not hasattr(seen, "to") else seen.to(distances)
    else:
        seen = np.asarray(seen, dtype=np.float64)
    return distances + float(gamma) * seen


@dataclass
class LabelScore:
    label: str
    rank: int  # 1 = best
    distance: float  # after calibration, the value the ranking is sorted by
    confidence: float  # softmax share among the ranked labels
    seen: bool | None  # a training class of the checkpoint; None without a checkpoint

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def rank(labels: Sequence[str], distances: np.ndarray, temperature: float,
         seen: Sequence[bool | None] | None = None) -> list[LabelScore]:
    """Labels sorted by distance (stable: ties keep the typed order) with confidences: softmax of −distance / τ."""
    distances = np.asarray(distances, dtype=np.float64)
    seen = [None] * len(labels) if seen is None else list(seen)
    logits = -distances / temperature
    e = np.exp(logits - logits.max())  # the largest logit subtracted: no overflow
    confidence = e / e.sum()
    order = np.argsort(distances, kind="stable")
    return [LabelScore(labels[i], r + 1, float(distances[i]), float(confidence[i]), seen[i])
            for r, i in enumerate(order)]


def training_free_distances(audio, visual, text_visual, text_audio):
    """(N, K) mean of the cosine distances 1 − cos(v, t_visual) and 1 − cos(a, t_audio) of the modalities
    given (audio or visual may be None: the other one alone).

    The features and text vectors must be unit rows of the same encoders (CLIP image | CLIP text, CLAP
    audio | CLAP text): the training-free score, also what an open-vocabulary blend mixes in. Works on numpy
    arrays and torch tensors alike.
    """
    terms = [1.0 - x @ t.T for x, t in ((visual, text_visual), (audio, text_audio)) if x is not None]
    if not terms:
        raise ValueError("the training-free score needs the picture, the sound or both")
    return sum(terms) / len(terms)


def blend(model_distances, free_distances, alpha: float, scale: float):
    """Open-vocabulary blend: (1 − α) d_model + α · scale · d_free, both (..., K).

    `scale` puts the training-free cosine distances on the spread of the model's distances (chosen with α on
    validation by `search_blend` in training/protocol.py), so α is the share of weight each side gets. α = 0 returns the
    model's distances unchanged (1 · d + 0 is d to the bit).
    """
    return (1 - alpha) * model_distances + (alpha * scale) * free_distances
