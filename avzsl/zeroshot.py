"""The prediction service: a video and free-text labels in, a ranking of the labels out.

Used by the app, by `python -m avzsl.predict` and by the tests; the UI adds presentation only.

Two ways to rank:
- **Training-free** (`ZERO_SHOT`): CLIP image-text and CLAP audio-text cosine similarities of the middle
  frame and the audio against the labels' prompt ensembles. Distance = 1 - cosine per modality; with both
  modalities the two distances are averaged, so each encoder counts equally.
- **A checkpoint** (ClipClap, AVCA, CoGe, ...): the model maps the video's CLIP and CLAP vectors and each
  label's [CLIP | CLAP] text vector into its joint space; distance is the model's own. Labels that are
  training classes of the checkpoint are "seen" and get the calibration γ added, as in evaluation.

Confidence = softmax over negative distances / τ, with τ = 0.01 for cosine distances (CLIP's logit scale
of 100) and τ = 1 for a checkpoint's joint space (its distances are already on that scale).
A model trained on both modalities still needs both inputs: when the audio is missing (or the user asks
for visual only) the CLAP embedding of 10 s of silence stands in for it, and for audio only the CLIP
embedding of a mid-grey frame stands in for the picture; the result carries a warning saying so.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from avzsl.encoders import EncoderSpec, Encoders, load_encoders
from avzsl.media import CLIP_SECONDS, TARGET_SAMPLE_RATE, load_video
from avzsl.training.atlas import Atlas, load_atlas
from avzsl.training.checkpoint import Checkpoint, CheckpointError, load_checkpoint, read_config

log = logging.getLogger(__name__)

ZERO_SHOT = "CLIP+CLAP zero-shot (no training)"
MODALITIES = ("both", "visual", "audio")
MAX_LABELS, MAX_LABEL_CHARS = 200, 100
COSINE_TEMPERATURE, JOINT_TEMPERATURE = 0.01, 1.0


class LabelError(ValueError):
    """The labels typed by the user cannot be used; the message says why."""


def parse_labels(text: str | list[str], max_labels: int = MAX_LABELS, max_chars: int = MAX_LABEL_CHARS) -> list[str]:
    """Split on commas and newlines, trim, drop empties, de-duplicate case-insensitively (first spelling wins)."""
    parts = text if isinstance(text, list) else re.split(r"[,\n]", text or "")
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


@dataclass
class LabelScore:
    label: str
    rank: int  # 1 = best
    distance: float
    confidence: float
    seen: bool | None  # a training class of the checkpoint; None without a checkpoint

    def to_json(self) -> dict:
        return {"label": self.label, "rank": self.rank, "distance": self.distance,
                "confidence": self.confidence, "seen": self.seen}


@dataclass
class Prediction:
    ranking: list[LabelScore]  # all labels, best first
    modalities: dict[str, list[LabelScore]]  # single-modality training-free rankings, as explanations
    timings_ms: dict[str, float]
    frame: np.ndarray  # (H, W, 3) uint8, the middle frame used
    audio: np.ndarray | None  # (480000,) float32 mono 48 kHz, or None
    has_audio: bool
    warnings: list[str]
    model: str
    modality: str
    gamma: float | None
    video_features: dict[str, np.ndarray] = field(default_factory=dict)  # "audio", "visual", "joint"
    label_joint: np.ndarray | None = None  # (L, D) labels in the checkpoint's joint space
    label_text: np.ndarray | None = None  # (L, D_t) [CLIP | CLAP] label text vectors

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


def rank(labels: list[str], distances: np.ndarray, temperature: float, seen: list[bool | None]) -> list[LabelScore]:
    """Labels sorted by distance (stable: ties keep the typed order) with softmax confidences."""
    logits = -np.asarray(distances, dtype=np.float64) / temperature
    confidence = np.exp(logits - logits.max())
    confidence /= confidence.sum()
    order = np.argsort(distances, kind="stable")
    return [LabelScore(labels[i], r + 1, float(distances[i]), float(confidence[i]), seen[i]) for r, i in enumerate(order)]


class ZeroShotService:
    """Encoders and checkpoints, loaded once per process; `classify` is safe to call from several threads."""

    def __init__(self, encoders: Encoders, *, checkpoints_dir: str | Path = "checkpoints", device=None):
        self.encoders = encoders
        self.checkpoints_dir = Path(checkpoints_dir)
        self.device = torch.device(device or encoders.device)
        self._checkpoints: dict[str, Checkpoint] = {}
        self._atlases: dict[str, Atlas] = {}
        self._neutral: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def random_encoders(self) -> bool:
        return self.encoders.spec.random

    # --- models ------------------------------------------------------------------------------------------

    def available_models(self) -> list[str]:
        """The training-free mode plus every checkpoint folder under `checkpoints_dir` that is complete."""
        names = []
        if self.checkpoints_dir.is_dir():
            for folder in sorted(self.checkpoints_dir.iterdir()):
                if folder.is_dir() and (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
                    names.append(folder.name)
        return [ZERO_SHOT, *names]

    def model_info(self, name: str) -> dict:
        if name == ZERO_SHOT:
            return {"gamma": None, "synthetic": False, "dataset": None, "train_classes": [], "metrics": {},
                    "has_atlas": False, "compatible": True, "problem": None, "model": None}
        path = self.checkpoints_dir / name
        config = read_config(path)
        problem = self._compatibility_problem(config)
        return {
            "gamma": float(config["gamma"]),
            "synthetic": bool(config.get("synthetic", False)),
            "dataset": config.get("dataset"),
            "model": config["recipe"]["model"],
            "train_classes": list(config["classes"]["train"]),
            "metrics": config.get("metrics", {}),
            "has_atlas": (path / "atlas.safetensors").is_file(),
            "compatible": problem is None,
            "problem": problem,
        }

    def _compatibility_problem(self, config: dict) -> str | None:
        """Why a checkpoint cannot take this process's encoder outputs, or None."""
        dims = config["input_dims"]
        clip, clap = self.encoders.clip_dim, self.encoders.clap_dim
        expected = {"audio": clap, "visual": clip, "text_parts": [["clip", clip], ["clap", clap]]}
        if [dims["audio"], dims["visual"], [list(p) for p in dims["text_parts"]]] != list(expected.values()):
            return (f"this checkpoint was trained on features of other encoders (audio {dims['audio']}-d, visual "
                    f"{dims['visual']}-d, text {dims['text_parts']}); the encoders in use give CLAP {clap}-d audio, "
                    f"CLIP {clip}-d visual and [clip {clip} | clap {clap}] text. Train it on features extracted "
                    "with `python -m avzsl.extract` using the same encoders.")
        trained = config.get("encoders") or {}
        if "clip_model" in trained:  # extracted by avzsl: the spec must match (random weights aside)
            ours = self.encoders.spec.to_dict()
            keys = ("clip_model", "clip_pretrained", "clap_model", "clap_pretrained")
            if any(trained.get(k) != ours[k] for k in keys) or bool(trained.get("random")) != bool(ours["random"]):
                return (f"this checkpoint was trained on features of {_describe(trained)}, but the encoders in use "
                        f"are {_describe(ours)}")
        return None

    def checkpoint(self, name: str) -> Checkpoint:
        with self._lock:
            if name not in self._checkpoints:
                path = self.checkpoints_dir / name
                if not path.is_dir():
                    raise CheckpointError(f"no checkpoint named {name!r} in {self.checkpoints_dir}")
                problem = self._compatibility_problem(read_config(path))
                if problem:
                    raise CheckpointError(f"{name}: {problem}")
                self._checkpoints[name] = load_checkpoint(path, self.device)
            return self._checkpoints[name]

    def atlas(self, name: str) -> Atlas:
        with self._lock:
            if name not in self._atlases:
                self._atlases[name] = load_atlas(self.checkpoints_dir / name)
            return self._atlases[name]

    # --- prediction --------------------------------------------------------------------------------------

    def classify(self, video_path: str | Path, labels: str | list[str], model: str = ZERO_SHOT,
                 modality: str = "both", gamma: float | None = None) -> Prediction:
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, not {modality!r}")
        labels = parse_labels(labels)
        checkpoint = None if model == ZERO_SHOT else self.checkpoint(model)  # fail before decoding
        timings: dict[str, float] = {}
        began = time.perf_counter()

        def lap(name, t0):
            timings[name] = 1000 * (time.perf_counter() - t0)

        t0 = time.perf_counter()
        video = load_video(video_path)
        lap("decode", t0)
        warnings = []
        if not video.has_audio:
            warnings.append("This video has no audio track: it was classified from the picture only.")
            if modality == "audio":
                raise LabelError("Audio only was chosen, but this video has no audio track.")

        t0 = time.perf_counter()
        visual = self.encoders.embed_images([video.frame])[0]  # (D_clip,)
        lap("clip_image", t0)
        audio = None
        if video.has_audio:
            t0 = time.perf_counter()
            audio = self.encoders.embed_audio(video.audio[None])[0]  # (D_clap,)
            lap("clap_audio", t0)
        t0 = time.perf_counter()
        prompt_set = (checkpoint.config.get("prompt_templates") or {}).get("name") if checkpoint else None
        text = self.encoders.embed_labels(labels, prompt_set)
        lap("labels", t0)

        # Training-free single-modality rankings: the explanations, and the zero-shot answer itself.
        visual_distance = 1.0 - text.clip @ visual  # (L,)
        audio_distance = None if audio is None else 1.0 - text.clap @ audio
        no_seen = [None] * len(labels)
        modalities = {"visual": rank(labels, visual_distance, COSINE_TEMPERATURE, no_seen)}
        if audio_distance is not None:
            modalities["audio"] = rank(labels, audio_distance, COSINE_TEMPERATURE, no_seen)
        label_text = np.concatenate([text.clip, text.clap], axis=1)  # (L, D_t)
        features = {"visual": visual, **({"audio": audio} if audio is not None else {})}

        t0 = time.perf_counter()
        if checkpoint is None:
            use_audio = audio_distance is not None and modality != "visual"
            use_visual = modality != "audio"
            distance = ((visual_distance if use_visual else 0) + (audio_distance if use_audio else 0)) / (use_visual + use_audio)
            ranking = rank(labels, np.asarray(distance), COSINE_TEMPERATURE, no_seen)
            label_joint, applied_gamma = None, None
        else:
            if modality == "visual" or audio is None:
                if audio is not None:
                    warnings.append("Visual only: the audio was replaced by the CLAP embedding of silence.")
                audio_in = self._neutral_input("audio")
            else:
                audio_in = audio
            if modality == "audio":
                warnings.append("Audio only: the picture was replaced by the CLIP embedding of a grey frame.")
                visual_in = self._neutral_input("visual")
            else:
                visual_in = visual
            applied_gamma = checkpoint.gamma if gamma is None else float(gamma)
            seen = _seen_flags(labels, checkpoint)
            with torch.inference_mode():
                net = checkpoint.model
                a = torch.from_numpy(audio_in[None]).to(self.device)
                v = torch.from_numpy(visual_in[None]).to(self.device)
                t = torch.from_numpy(label_text).to(self.device)
                distance = net.class_distances(a, v, t)[0].cpu().numpy()  # (L,)
                features["joint"] = net.embed_samples(a, v)[0].cpu().numpy()
                label_joint = net.embed_text(t).cpu().numpy()
            calibrated = distance + applied_gamma * np.asarray(seen, dtype=np.float64)
            ranking = rank(labels, calibrated, JOINT_TEMPERATURE, seen)
            if checkpoint.config.get("synthetic"):
                warnings.append("This checkpoint was trained on SYNTHETIC features: its rankings are not meaningful.")
        lap("model", t0)
        if self.random_encoders:
            warnings.append("Random-weight encoders: these results are meaningless (a test mode).")
        timings["total"] = 1000 * (time.perf_counter() - began)
        return Prediction(ranking, modalities, timings, video.frame, video.audio, video.has_audio, warnings, model,
                          modality, applied_gamma, features, label_joint, label_text)

    def _neutral_input(self, modality: str) -> np.ndarray:
        """Encoder output for 'nothing': 10 s of silence (audio) or a mid-grey 224x224 frame (visual)."""
        if modality not in self._neutral:
            if modality == "audio":
                silence = np.zeros((1, int(TARGET_SAMPLE_RATE * CLIP_SECONDS)), np.float32)
                self._neutral[modality] = self.encoders.embed_audio(silence)[0]
            else:
                self._neutral[modality] = self.encoders.embed_images([np.full((224, 224, 3), 128, np.uint8)])[0]
        return self._neutral[modality]


def _seen_flags(labels: list[str], checkpoint: Checkpoint) -> list[bool]:
    """A label is seen when it names a training class (class name or its prompt name, any case)."""
    classes = checkpoint.config["classes"]
    train = set(classes["train"])
    known = {name.lower() for name in train}
    known |= {p.lower() for n, p in zip(classes["all"], classes.get("prompt_names", classes["all"])) if n in train}
    return [label.lower() in known for label in labels]


def _describe(spec: dict) -> str:
    kind = "random-weight " if spec.get("random") else ""
    return (f"{kind}CLIP {spec.get('clip_model')}/{spec.get('clip_pretrained')} + "
            f"CLAP {spec.get('clap_model')}/{spec.get('clap_pretrained')}")


def create_service(encoders: EncoderSpec | str = "pretrained", checkpoints_dir: str | Path = "checkpoints",
                   device=None, **encoder_files) -> ZeroShotService:
    """Load the encoders (raises WeightsNotFoundError when real weights are missing) and build the service."""
    return ZeroShotService(load_encoders(encoders, device, **encoder_files), checkpoints_dir=checkpoints_dir, device=device)
