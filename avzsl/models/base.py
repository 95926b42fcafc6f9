"""What every avzsl model provides to the training protocol, the evaluator and the prediction service.

A model maps a video (audio vector a, visual vector v) and a class text vector w into one space. The
protocol only needs three things from it: the training losses of a batch, the distances between samples
and classes (lower = more likely), and the joint embeddings for the embedding maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from avzsl.encoders.dims import InputDims  # noqa: F401 - models are built for InputDims; kept importable from here


@dataclass
class Batch:
    """One training batch. `target` is the rank of the class among the sorted training classes."""

    audio: torch.Tensor  # (B, D_a)
    visual: torch.Tensor  # (B, D_v)
    text: torch.Tensor  # (B, D_t) text vector of each sample's class: class_text[target] (ClipClap relies on it)
    target: torch.Tensor  # (B,) int64 in [0, K_train)
    # A video of another class and that class's text, for models trained with triplets (AVCA).
    neg_audio: torch.Tensor | None = None  # (B, D_a)
    neg_visual: torch.Tensor | None = None  # (B, D_v)
    neg_text: torch.Tensor | None = None  # (B, D_t)


@dataclass
class JointScores:
    distances: torch.Tensor  # (N, K), lower = more likely
    samples: torch.Tensor  # (N, D) joint embeddings of the videos
    classes: torch.Tensor  # (K, D) joint embeddings of the class texts


class GZSLModel(nn.Module):
    """Base class; subclasses set `name`, `Config` and implement the three methods below."""

    name: str = ""
    needs_negatives: bool = False  # does `training_losses` use Batch.neg_*?
    branches: tuple[str, ...] = ()  # modalities with a branch of their own in `branch_distances` (CoGe)

    def training_losses(self, batch: Batch, class_text: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of a batch; "loss" is the total. `class_text` (K_train, D_t) rows in target order."""
        raise NotImplementedError

    def after_step(self, batch: Batch) -> None:
        """Called after each optimiser step (AVCA replays the reference's BatchNorm-only passes); default none."""

    def embed_samples(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """(N, D_a), (N, D_v) -> (N, D) joint embeddings of videos."""
        raise NotImplementedError

    def embed_text(self, text: torch.Tensor) -> torch.Tensor:
        """(K, D_t) -> (K, D) joint embeddings of classes."""
        raise NotImplementedError

    def joint_scores(self, audio: torch.Tensor, visual: torch.Tensor, text: torch.Tensor) -> JointScores:
        """One forward of videos and class texts: their distances and both sets of joint embeddings."""
        samples, classes = self.embed_samples(audio, visual), self.embed_text(text)  # (N, D), (K, D)
        return JointScores(torch.cdist(samples, classes), samples, classes)

    def class_distances(self, audio: torch.Tensor, visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(N, K) distances, lower = more likely; calibrated stacking adds γ to the seen columns."""
        return self.distances_to_sets(audio, visual, [text])[0]

    def distances_to_sets(self, audio: torch.Tensor, visual: torch.Tensor, texts: list[torch.Tensor]) -> list[torch.Tensor]:
        """[(N, K_i)]: the distances to each class set of `texts` (K_i, D_t), the videos embedded once (validation
        asks about all its classes and about the unseen ones alone)."""
        samples = self.embed_samples(audio, visual)  # (N, D)
        return [torch.cdist(samples, self.embed_text(text)) for text in texts]

    def branch_distances(self, audio: torch.Tensor, visual: torch.Tensor, text: torch.Tensor) -> dict[str, torch.Tensor]:
        """{branch: (N, K)} distances of each of `branches` alone, for models whose decision mixes one branch per
        modality (CoGe); models that decide on both modalities together have none (the evaluation report)."""
        return {}
