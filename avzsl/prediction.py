"""The prediction service: a video and free-text labels in, a ranking of the labels out.

    from avzsl.prediction import create_service, parse_labels
    service = create_service("random")                       # or "pretrained"; see encoders/ for the weights
    prediction = service.classify("clip.mp4", parse_labels("dog barking, playing guitar"))
    prediction.ranking[0].label, prediction.to_json()

Used by the app, by `python -m avzsl.predict` and by the tests; the UI adds presentation only. A call goes
through four steps, each a method below: decode and embed the video (`embed_video`), embed the labels
(`embed_labels`), score them with a `Scorer`, and rank (`avzsl.scoring.rank`).

Two scorers:
- **Training-free** (`TrainingFreeScorer`, model id `TRAINING_FREE`): CLIP image-text and CLAP
  audio-text cosine similarities against the labels' prompt ensembles. Distance = 1 − cosine per modality;
  with both modalities the two distances are averaged, so each encoder counts equally.
- **A checkpoint** (`CheckpointScorer`: ClipClap, AVCA, CoGe, ...): the model maps the video's vectors and
  each label's [visual text | audio text] vector into its joint space in one forward; distance is the
  model's own. Labels naming training classes are "seen" and calibrated with γ as in evaluation.

A model trained on both modalities still needs both inputs: when the audio is missing (or the user asks
for the picture only) the encoders' embedding of silence stands in for it, and for sound only their
embedding of a mid-grey frame stands in for the picture; the result carries a warning saying so.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avzsl.checkpoint import CONFIG, WEIGHTS, Checkpoint, CheckpointConfig, CheckpointError, load_checkpoint, read_config, read_metrics
from avzsl.io import AvzslError
from avzsl.scoring import COSINE_TEMPERATURE, JOINT_TEMPERATURE, LabelScore, calibrate, rank

log = logging.getLogger(__name__)

TRAINING_FREE = "training-free"  # the model id of the training-free mode; checkpoints are named by folder
TRAINING_FREE_NAME = "CLIP+CLAP zero-shot (no training)"
MODALITIES = ("both", "visual", "audio")
MAX_LABELS, MAX_LABEL_CHARS = 200, 100


class LabelError(AvzslError, ValueError):
    """The labels (or options) given by the user cannot be used; the message says why."""


def parse_labels(text: str | Sequence[str], max_labels: int = MAX_LABELS, max_chars: int = MAX_LABEL_CHARS) -> list[str]:
    """Split on commas and newlines, trim, drop empties, de-duplicate case-insensitively (first spelling wins)."""
    parts = re.split(r"[,\n]", text or "") if isinstance(text, str) else list(text)
    labels, seen = [], set()
    for part in parts:
        label = " ".join(str(part).split())
        if label and label.lower() not in seen:
            seen.add(label.lower())
            labels.append(label)
    if not labels:
        raise LabelError("Type at least one label, e.g. 'dog barking, playing guitar, car engine'.")
    if len(labels) > max_labels:
        raise LabelError(f"{len(labels)} labels given; at most {max_labels} can be ranked at once.")
    too_long = [label for label in labels if len(label) > max_chars]
    if too_long:
        raise LabelError(f"Labels can be at most {max_chars} characters long; this one has {len(too_long[0])}: "
                         f"{too_long[0][:40]!r}...")
    return labels


# --- what a model is, for the app and the CLI ---------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """Everything the app and the CLI show about a model; all checkpoint facts come from here."""

    id: str  # TRAINING_FREE or the checkpoint's folder name: the value APIs take
    display_name: str
    architecture: str | None  # "clipclap", "avca", "coge"; None for the training-free mode
    dataset: str | None
    synthetic: bool
    gamma: float | None  # the checkpoint's calibration γ
    train_classes: tuple[str, ...]
    metrics: dict  # {"val": {...}, "test": {...}}
    has_atlas: bool
    encoders: str  # which encoders the model's features come from, in words
    problem: str | None  # why it cannot be used here; None when it can

    @property
    def usable(self) -> bool:
        return self.problem is None


# --- steps of a prediction -------------------------------------------------------------------------------


@dataclass
class VideoEmbedding:
    """What the encoders made of one media file."""

    frame: np.ndarray | None  # (H, W, 3) uint8, the frame CLIP saw
    audio: np.ndarray | None  # (S,) float32 mono window CLAP heard, at `sample_rate`
    sample_rate: int
    visual: np.ndarray | None  # (D_v,) unit vector
    audio_vector: np.ndarray | None  # (D_a,) unit vector; None without sound
    timings_ms: dict[str, float]

    @property
    def has_audio(self) -> bool:
        return self.audio_vector is not None


@dataclass
class Scores:
    """A scorer's answer for one video: distances (before calibration) and what the maps need."""

    distances: np.ndarray  # (L,)
    seen: list[bool | None]  # per label
    temperature: float
    gamma: float | None  # applied calibration
    joint: np.ndarray | None = None  # (D,) the video in the model's joint space
    label_joint: np.ndarray | None = None  # (L, D)
    warnings: list[str] = field(default_factory=list)

    def ranking(self, labels: Sequence[str]) -> list[LabelScore]:
        distances = self.distances if self.gamma is None else calibrate(self.distances, [bool(s) for s in self.seen], self.gamma)
        return rank(labels, distances, self.temperature, self.seen)


class TrainingFreeScorer:
    """Mean cosine distance of the picture to the labels' CLIP text and of the sound to their CLAP text."""

    def score(self, video: VideoEmbedding, text, modality: str) -> Scores:
        distances = [d for m, d in single_modality_distances(video, text).items() if modality in ("both", m)]
        return Scores(np.mean(distances, axis=0), [None] * len(text.labels), COSINE_TEMPERATURE, None)


class CheckpointScorer:
    """A trained model: one forward of the video and the label texts through it."""

    def __init__(self, checkpoint: Checkpoint, encoders):
        self.checkpoint, self.encoders = checkpoint, encoders

    def score(self, video: VideoEmbedding, text, modality: str, gamma: float | None = None) -> Scores:
        import torch

        warnings = []
        audio = video.audio_vector
        if modality == "visual" or audio is None:
            if audio is not None:
                warnings.append("Picture only: the sound was replaced by the encoders' embedding of silence.")
            audio = self.encoders.silence_embedding()
        visual = video.visual
        if modality == "audio" or visual is None:
            if visual is not None:
                warnings.append("Sound only: the picture was replaced by the encoders' embedding of a grey frame.")
            visual = self.encoders.grey_frame_embedding()
        config = self.checkpoint.config
        model = self.checkpoint.model
        device = next(model.parameters()).device
        label_text = np.concatenate([text.clip, text.clap], axis=1)  # (L, D_t), the [visual | audio] text layout
        with torch.inference_mode():
            out = model.joint_scores(torch.from_numpy(audio[None]).to(device), torch.from_numpy(visual[None]).to(device),
                                     torch.from_numpy(label_text).to(device))
        if config.synthetic:
            warnings.append("This checkpoint was trained on SYNTHETIC features: its rankings are not meaningful.")
        return Scores(out.distances[0].cpu().numpy(), [config.classes.is_seen(label) for label in text.labels],
                      JOINT_TEMPERATURE, config.calibration.gamma if gamma is None else float(gamma),
                      out.samples[0].cpu().numpy(), out.classes.cpu().numpy(), warnings)


def single_modality_distances(video: VideoEmbedding, text) -> dict[str, np.ndarray]:
    """Training-free (L,) cosine distances per modality the video has: "visual" (CLIP), "audio" (CLAP)."""
    out = {}
    if video.visual is not None:
        out["visual"] = 1.0 - text.clip @ video.visual
    if video.audio_vector is not None:
        out["audio"] = 1.0 - text.clap @ video.audio_vector
    return out


@dataclass
class Prediction:
    ranking: list[LabelScore]  # all labels, best first
    modalities: dict[str, list[LabelScore]]  # single-modality training-free rankings, as explanations
    timings_ms: dict[str, float]
    frame: np.ndarray | None  # (H, W, 3) uint8, the frame used
    audio: np.ndarray | None  # (S,) float32 mono window at `sample_rate`, or None
    sample_rate: int
    has_audio: bool
    warnings: list[str]
    model: str  # model id
    modality: str
    gamma: float | None
    labels: list[str]  # in typed order: the rows of label_text and label_joint
    video_features: dict[str, np.ndarray] = field(default_factory=dict)  # "audio", "visual", "joint"
    label_joint: np.ndarray | None = None  # (L, D) labels in the checkpoint's joint space
    label_text: np.ndarray | None = None  # (L, D_t) [visual text | audio text] label vectors

    def to_json(self) -> dict:
        return {
            "ranking": [s.to_json() for s in self.ranking],
            "modalities": {m: [s.to_json() for s in scores] for m, scores in self.modalities.items()},
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "warnings": list(self.warnings),
            "model": self.model,
            "modality": self.modality,
            "gamma": self.gamma,
            "has_audio": self.has_audio,
        }


# --- the service -----------------------------------------------------------------------------------------


class PredictionService:
    """Encoders and checkpoints, loaded once per process; `classify` is safe to call from several threads."""

    def __init__(self, encoders, *, checkpoints_dir: str | Path = "checkpoints", device=None):
        self.encoders = encoders  # of the training-free mode
        self.checkpoints_dir = Path(checkpoints_dir)
        self.device = device or encoders.device
        self._checkpoints: dict[str, Checkpoint] = {}
        self._atlases: dict = {}
        self._lock = threading.Lock()

    @property
    def random_encoders(self) -> bool:
        return self.encoders.spec.random

    # --- models ------------------------------------------------------------------------------------------

    def model_ids(self) -> list[str]:
        """TRAINING_FREE, then every complete checkpoint folder under `checkpoints_dir`, sorted."""
        ids = []
        if self.checkpoints_dir.is_dir():
            for folder in sorted(self.checkpoints_dir.iterdir()):
                if folder.is_dir() and (folder / CONFIG).is_file() and (folder / WEIGHTS).is_file():
                    ids.append(folder.name)
        return [TRAINING_FREE, *ids]

    def models(self) -> list[ModelInfo]:
        """Every model that can be described (unreadable checkpoints are logged and left out)."""
        out = []
        for model_id in self.model_ids():
            try:
                out.append(self.model_info(model_id))
            except CheckpointError as e:
                log.warning("not offering checkpoint %s: %s", model_id, e)
        return out

    def model_info(self, model_id: str) -> ModelInfo:
        model_id = _resolve(model_id)
        if model_id == TRAINING_FREE:
            return ModelInfo(TRAINING_FREE, TRAINING_FREE_NAME, None, None, False, None, (), {}, False,
                             _describe_encoders(self.encoders.spec.to_dict()), None)
        path = self._path(model_id)
        config = read_config(path)
        return ModelInfo(
            id=model_id, display_name=model_id, architecture=config.model_name, dataset=config.dataset,
            synthetic=config.synthetic, gamma=config.calibration.gamma, train_classes=config.classes.train,
            metrics=read_metrics(path), has_atlas=(path / "atlas.safetensors").is_file(),
            encoders=_describe_encoders(config.encoders), problem=config.compatible_with(self.encoders.spec),
        )

    def checkpoint_config(self, model_id: str) -> CheckpointConfig:
        return read_config(self._path(model_id))

    def checkpoint(self, model_id: str) -> Checkpoint:
        with self._lock:
            if model_id not in self._checkpoints:
                path = self._path(model_id)
                problem = read_config(path).compatible_with(self.encoders.spec)
                if problem:
                    raise CheckpointError(f"{model_id}: {problem}")
                self._checkpoints[model_id] = load_checkpoint(path, self.device)
            return self._checkpoints[model_id]

    def atlas(self, model_id: str):
        from avzsl.atlas import load_atlas

        with self._lock:
            if model_id not in self._atlases:
                self._atlases[model_id] = load_atlas(self._path(model_id))
            return self._atlases[model_id]

    def _path(self, model_id: str) -> Path:
        path = self.checkpoints_dir / model_id
        if model_id in ("", ".", "..") or "/" in model_id or not path.is_dir():
            raise CheckpointError(f"no checkpoint named {model_id!r} in {self.checkpoints_dir}")
        return path

    # --- prediction --------------------------------------------------------------------------------------

    def classify(self, video_path: str | Path, labels: Sequence[str], model: str = TRAINING_FREE,
                 modality: str = "both", gamma: float | None = None) -> Prediction:
        """Rank `labels` (already parsed, see `parse_labels`) for the video at `video_path`."""
        if modality not in MODALITIES:
            raise LabelError(f"modality must be one of {MODALITIES}, not {modality!r}")
        if isinstance(labels, str):
            raise TypeError("labels must be a list of labels; split typed text with parse_labels()")
        labels = parse_labels(labels)  # checks count and length; a no-op split of a parsed list
        model = _resolve(model)
        checkpoint = None if model == TRAINING_FREE else self.checkpoint(model)  # fail before decoding
        began = time.perf_counter()

        video = self.embed_video(video_path)
        warnings = []
        if not video.has_audio:
            if modality == "audio":
                raise LabelError("Sound only was chosen, but this video has no audio track.")
            warnings.append("This video has no audio track: it was classified from the picture only.")
        t0 = time.perf_counter()
        text = self.embed_labels(labels, checkpoint)
        timings = {**video.timings_ms, "labels": _ms_since(t0)}

        t0 = time.perf_counter()
        if checkpoint is None:
            scores = TrainingFreeScorer().score(video, text, modality)
        else:
            scores = CheckpointScorer(checkpoint, self.encoders).score(video, text, modality, gamma)
        ranking = scores.ranking(labels)
        timings["model"] = _ms_since(t0)
        explanations = {m: rank(labels, d, COSINE_TEMPERATURE) for m, d in single_modality_distances(video, text).items()}
        if self.random_encoders:
            scores.warnings.append("Random-weight encoders: these results are meaningless (a test mode).")
        timings["total"] = _ms_since(began)
        features = {"visual": video.visual, **({"audio": video.audio_vector} if video.has_audio else {}),
                    **({"joint": scores.joint} if scores.joint is not None else {})}
        return Prediction(ranking, explanations, timings, video.frame, video.audio, video.sample_rate, video.has_audio,
                          warnings + scores.warnings, model, modality, scores.gamma, labels, features,
                          scores.label_joint, np.concatenate([text.clip, text.clap], axis=1))

    def embed_video(self, path: str | Path) -> VideoEmbedding:
        """Decode the frame and the audio window, and embed each with the encoders."""
        from avzsl.media import TARGET_SAMPLE_RATE, load_video

        t0 = time.perf_counter()
        decoded = load_video(path)
        timings = {"decode": _ms_since(t0)}
        t0 = time.perf_counter()
        visual = self.encoders.embed_images([decoded.frame])[0]  # (D_v,)
        timings["clip_image"] = _ms_since(t0)
        audio = None
        if decoded.has_audio:
            t0 = time.perf_counter()
            audio = self.encoders.embed_audio(decoded.audio[None])[0]  # (D_a,)
            timings["clap_audio"] = _ms_since(t0)
        return VideoEmbedding(decoded.frame, decoded.audio, TARGET_SAMPLE_RATE, visual, audio, timings)

    def embed_labels(self, labels: Sequence[str], checkpoint: Checkpoint | None = None):
        """LabelEmbeddings with the checkpoint's prompt set (the default free-text one without)."""
        return self.encoders.embed_labels(labels, checkpoint.config.prompt_set if checkpoint else None)


def _resolve(model_id: str | None) -> str:
    """Model ids; the display name of the training-free mode, which avzsl 0.1 took as its id, still works."""
    return TRAINING_FREE if model_id in (None, "", TRAINING_FREE_NAME) else model_id


def _ms_since(t0: float) -> float:
    return 1000 * (time.perf_counter() - t0)


def _describe_encoders(spec: dict | None) -> str:
    if not spec:
        return "encoders not recorded (features of the right sizes are accepted)"
    kind = "random-weight " if spec.get("random") else ""
    return (f"{kind}CLIP {spec.get('clip_model')}/{spec.get('clip_pretrained')} + "
            f"CLAP {spec.get('clap_model')}/{spec.get('clap_pretrained')}")


def create_service(encoders="pretrained", checkpoints_dir: str | Path = "checkpoints", device=None,
                   **encoder_files) -> PredictionService:
    """Load the encoders (raises WeightsNotFoundError when real weights are missing) and build the service."""
    from avzsl.encoders import load_encoders

    return PredictionService(load_encoders(encoders, device, **encoder_files), checkpoints_dir=checkpoints_dir, device=device)
