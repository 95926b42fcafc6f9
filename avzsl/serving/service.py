"""The prediction service: a video and free-text labels in, a ranking of the labels out.

    >>> from avzsl.serving.service import create_service, parse_labels
    >>> service = create_service("random")           # or "pretrained" (see avzsl/encoders for the weights)
    >>> labels = parse_labels("bird chirping, car engine,  Car Engine")   # split, trimmed, de-duplicated
    >>> labels
    ('bird chirping', 'car engine')
    >>> prediction = service.classify("examples/bird.mp4", labels)
    >>> sorted(s.label for s in prediction.ranking), prediction.model, prediction.kind
    (['bird chirping', 'car engine'], 'training-free', 'video')
    >>> whole = service.classify("examples/scenes.mp4", labels, segments=4)   # four moments on a timeline
    >>> [(s.start_s, s.end_s) for s in whole.segments]
    [(0.0, 12.0), (12.0, 24.0), (24.0, 36.0), (36.0, 48.0)]

Used by the app, by `python -m avzsl.predict` and by the tests; the UI adds presentation only. Checkpoints
are found by id in the service's `Catalog` (avzsl/serving/catalog.py); the answer is a `Prediction`
(avzsl/serving/result.py). A call goes through four steps: decode and embed the file (`embed_media`), embed
the labels (`Encoders.embed_labels`), score them (`Scores`), and rank (`avzsl.models.scoring.rank`).

Two scorers:
- **Training-free** (`training_free_scores`, model id `TRAINING_FREE`): CLIP image-text and CLAP
  audio-text cosine similarities against the labels' prompt ensembles. Distance = 1 − cosine per modality;
  with both modalities the two distances are averaged, so each encoder counts equally.
- **A checkpoint** (`checkpoint_scores`: ClipClap, AVCA, CoGe, ...): the model maps the video's vectors and
  each label's [visual text | audio text] vector into its joint space in one forward; distance is the
  model's own. Labels naming training classes are "seen" and calibrated with γ as in evaluation.

A model trained on both modalities still needs both inputs: when the audio is missing (or the user asks
for the picture only) the encoders' embedding of silence stands in for it, and for sound only their
embedding of a mid-grey frame stands in for the picture; the result carries a warning saying so.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avzsl.serving.catalog import TRAINING_FREE, TRAINING_FREE_NAME, Catalog, Entry, ModelInfo
from avzsl.models.checkpoint import Checkpoint, CheckpointError
from avzsl.io import AvzslError
from avzsl.serving.result import Prediction, SegmentRanking
from avzsl.serving.turns import Turns
from avzsl.models.scoring import (COSINE_TEMPERATURE, JOINT_TEMPERATURE, blend, calibrate, rank,
                            training_free_distances)

if TYPE_CHECKING:
    from avzsl.media.featurize import MediaEmbedding

log = logging.getLogger(__name__)

MODALITIES = ("both", "visual", "audio")
MAX_LABELS, MAX_LABEL_CHARS = 200, 100
MAX_LABEL_TEXT_BYTES = 100_000  # the typed text of at most MAX_LABELS labels: refused beyond, before any parsing
MAX_SEGMENTS = 64
MOMENTS_PER_TURN = 1  # moments embedded per turn of the media lane: another request waits for so many at most
MAX_GAMMA = 100.0  # |γ|: checkpoints calibrate within their training grids (0 to 5); beyond, seen labels just go last


class LabelError(AvzslError, ValueError):
    """The labels (or options) given by the user cannot be used; the message says why."""


class Labels(tuple):
    """Labels as `parse_labels` gives them: trimmed, unique, within the limits. `classify` takes them as they
    are; any other sequence it parses first, so typed text is parsed once on every path."""


def parse_labels(text: str | Sequence[str]) -> Labels:
    """Split on commas and newlines, trim, drop empties, de-duplicate case-insensitively (first spelling wins).

    A label with no visible character (only zero-width spaces, byte-order marks, control characters) is
    empty: it would be ranked as a label nobody can read. Text beyond MAX_LABEL_TEXT_BYTES is refused before
    it is split, so an oversized request costs neither time nor memory.
    """
    parts = [text or ""] if isinstance(text, str) else [str(part) for part in text]
    size = sum(len(part) for part in parts)  # characters <= bytes: a huge text is refused before it is encoded
    if size <= MAX_LABEL_TEXT_BYTES:
        size = sum(len(part.encode("utf-8", "replace")) for part in parts)
    if size > MAX_LABEL_TEXT_BYTES:
        raise LabelError(f"The labels are {size:,} characters long or more; at most {MAX_LABEL_TEXT_BYTES:,} bytes "
                         "can be sent at once.")
    if isinstance(text, str):
        parts = re.split(r"[,\n]", parts[0])
    labels, seen = [], set()
    for part in parts:
        label = " ".join(part.split())
        if has_visible_character(label) and label.lower() not in seen:
            seen.add(label.lower())
            labels.append(label)
    if not labels:
        raise LabelError("Type at least one label, e.g. 'dog barking, playing guitar, car engine'.")
    if len(labels) > MAX_LABELS:
        raise LabelError(f"{len(labels)} labels given; at most {MAX_LABELS} can be ranked at once.")
    too_long = [label for label in labels if len(label) > MAX_LABEL_CHARS]
    if too_long:
        raise LabelError(f"Labels can be at most {MAX_LABEL_CHARS} characters long; this one has {len(too_long[0])}: "
                         f"{too_long[0][:40]!r}...")
    return Labels(labels)


def checked_number(value, name: str, low: float, high: float, *, whole: bool = False,
                   default: str = "the checkpoint's own value") -> float | None:
    """A number a client sent (a number, or its text): None or "" for the default, else finite, within
    [low, high] and, with `whole`, a whole number; LabelError otherwise (NaN, infinities and True included)."""
    if value is None or str(value).strip() == "":
        return None
    try:
        number = float(str(value).strip())  # str(): True is "True", not 1
    except ValueError:
        number = math.nan
    if not low <= number <= high or (whole and not number.is_integer()):  # False for NaN too
        raise LabelError(f"{name} must be a {'whole ' if whole else ''}number from {low:g} to {high:g} "
                         f"(empty: {default}), not {str(value)[:20]!r}.")
    return number


def has_visible_character(text: str) -> bool:
    """Any character that is not a control or format character (Cc, Cf: \\x00, \\u200b, \\ufeff, ...), a separator
    or a combining mark on its own."""
    return any(unicodedata.category(c)[0] not in "CZM" for c in text)


# --- steps of a prediction -------------------------------------------------------------------------------


@dataclass
class Scores:
    """A scorer's answer for each segment: distances (before calibration) and what the maps need."""

    distances: np.ndarray  # (N, L)
    seen: list[bool | None]  # per label
    temperature: float
    gamma: float | None  # the calibration to apply; None for the training-free mode
    joint: np.ndarray | None = None  # (N, D) the segments in the model's joint space
    label_joint: np.ndarray | None = None  # (L, D)
    warnings: list[str] = field(default_factory=list)
    alpha: float | None = None  # applied open-vocabulary blend weight; None for the training-free mode

    def calibrated(self) -> np.ndarray:
        """(N, L) distances with calibrated stacking applied (as in evaluation)."""
        if self.gamma is None:
            return self.distances
        return calibrate(self.distances, [bool(s) for s in self.seen], self.gamma)


def training_free_scores(media: MediaEmbedding, text, modality: str) -> Scores:
    """Mean cosine distance of the picture to the labels' visual text and of the sound to their audio text."""
    audio = media.audio if modality in ("both", "audio") else None
    visual = media.visual if modality in ("both", "visual") else None
    distances = training_free_distances(audio, visual, text.clip, text.clap)  # (N, L)
    return Scores(distances, [None] * len(text.labels), COSINE_TEMPERATURE, None)


def checkpoint_scores(checkpoint: Checkpoint, encoders, media: MediaEmbedding, text, modality: str,
                      gamma: float | None = None, alpha: float | None = None) -> Scores:
    """A trained model: one forward of all segments and the label texts through it. gamma, alpha: override the
    checkpoint's calibration γ and blend weight α (None: its own)."""
    import torch

    audio, visual, warnings = media.complete(encoders, modality)  # (N, D_a), (N, D_v), stand-ins
    config, model = checkpoint.config, checkpoint.model
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model.joint_scores(torch.from_numpy(audio).to(device), torch.from_numpy(visual).to(device),
                                 torch.from_numpy(text.joined).to(device))
    if config.synthetic:
        warnings.append("This checkpoint was trained on SYNTHETIC features: its rankings are not meaningful.")
    calibration = config.calibration
    alpha = calibration.alpha if alpha is None else alpha
    # Open-vocabulary blend with the training-free distances of the same encoders (scoring.blend).
    free = training_free_scores(media, text, modality).distances  # (N, L)
    distances = blend(out.distances.cpu().numpy(), free, alpha, calibration.blend_scale)
    return Scores(distances, [config.classes.is_seen(label) for label in text.labels], JOINT_TEMPERATURE,
                  calibration.gamma if gamma is None else gamma, out.samples.cpu().numpy(),
                  out.classes.cpu().numpy(), warnings, alpha)


def pool_segments(distances: np.ndarray) -> np.ndarray:
    """(N, L) -> (L,): each label's distance at its best segment.

    A label is as likely as its best moment: "applause" that fills one of eight segments should rank high
    for the whole video, which a mean over segments would dilute. With one segment this is the identity.
    """
    return distances.min(axis=0)


# --- the service -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceStatus:
    """What the encoders of the training-free mode are doing, for the app's status line and /weights_status."""

    state: str  # "ready", "fetching" (weights from the hub), "loading" or "failed"
    detail: str = ""  # fetching: the files and their sizes; failed: why, in one line


class EncodersUnavailable(AvzslError):
    """Building the encoders failed earlier in this process; the message is the remembered reason."""


class PredictionService:
    """Encoders and checkpoints, loaded once per process; `classify` is safe to call from several threads.

    Each checkpoint is run with the encoders its features came from (its preset and frame convention),
    loaded on first use and shared between checkpoints that need the same; the training-free mode uses
    the default preset. Checkpoints are found by id in `catalog` (avzsl/serving/catalog.py). Encoders that
    fail to build (a failed fetch, a damaged or wrong weights file) are not tried again: every later request
    answers with the reason (`status()`), in milliseconds instead of a rebuild.
    """

    def __init__(self, encoders, *, checkpoints_dir: str | Path | None = "checkpoints", device=None):
        """encoders: an EncoderPool, or one Encoders object (served for its own spec; others are loaded alike)."""
        from avzsl.encoders import EncoderPool

        self.pool = encoders if isinstance(encoders, EncoderPool) else EncoderPool.of(encoders)
        self.default_spec = self.pool.spec() if isinstance(encoders, EncoderPool) else encoders.spec
        self.catalog = Catalog(checkpoints_dir)
        self.device = device or self.pool.device
        self._failed: dict = {}  # EncoderSpec -> why building its encoders failed
        # Two lanes, each served in arrival order (turns.py): a small request never waits for all of a large
        # one. Media: the CLIP image / CLAP audio forwards of MOMENTS_PER_TURN moments per turn (decoding runs outside).
        # Labels: new label texts, LABELS_PER_TURN per turn. Labels found in the cache need neither.
        self._media_lane, self._label_lane = Turns(), Turns()
        self.answered = threading.Event()  # set by the first classification (the app's warm-up waits for it)

    @property
    def encoders(self):
        """The encoders of the training-free mode (loaded on first use)."""
        return self._encoders(self.default_spec)

    @property
    def random_encoders(self) -> bool:
        """Random-weight encoders (a test mode): the app and every result say its answers are meaningless."""
        return self.pool.random

    def status(self) -> ServiceStatus:
        """Whether the encoders of the training-free mode are ready, being fetched or loaded, or failed."""
        if self.default_spec in self._failed:
            return ServiceStatus("failed", self._failed[self.default_spec])
        if self.pool.random or self.pool.is_loaded(self.default_spec):
            return ServiceStatus("ready")
        from avzsl.encoders.hub import FETCHES

        fetching = FETCHES.active()
        if fetching:
            return ServiceStatus("fetching", "; ".join(f.describe() for f in fetching))
        return ServiceStatus("loading")

    def _encoders(self, spec):
        """The encoders of `spec`, built on first use; EncodersUnavailable once building them has failed."""
        if spec in self._failed:
            raise EncodersUnavailable(self._failed[spec])
        try:
            return self.pool.get(spec)
        except Exception as e:  # noqa: BLE001 - any failure (a RuntimeError of a wrong file too) is remembered
            reason = str(e) if isinstance(e, AvzslError) else f"{type(e).__name__}: {e}"
            self._failed[spec] = " ".join(reason.split())[:500]  # one line; the caller reports it (raised below)
            log.debug("the encoders %s cannot be built: %s", spec.describe(), self._failed[spec])
            raise EncodersUnavailable(self._failed[spec]) from None

    def _entry(self, model_id: str) -> Entry | None:
        """The catalog's entry of a usable checkpoint (None for the training-free mode); read once per request."""
        return None if model_id == TRAINING_FREE else self.catalog.usable(model_id)

    def _spec(self, entry: Entry | None):
        """The EncoderSpec a model is run with: the default one for the training-free mode, else the preset
        and frame convention of its features (real or random weights as the service was started)."""
        if entry is None:
            return self.default_spec
        made_by = entry.config.feature_encoders()
        return self.pool.spec(made_by.preset, made_by.frames)

    def encoder_spec(self, model_id: str):
        return self._spec(self._entry(_resolve(model_id)))

    def encoders_for(self, model_id: str):
        """The encoders a model needs, loaded on first use and shared by every model that needs the same."""
        return self._encoders(self.encoder_spec(model_id))

    # --- models ------------------------------------------------------------------------------------------

    def model_ids(self) -> list[str]:
        """TRAINING_FREE, then every checkpoint of the catalog (usable or not), sorted."""
        return [TRAINING_FREE, *self.catalog.ids()]

    def models(self) -> list[ModelInfo]:
        """Every model; a checkpoint that cannot be used is there too, with the reason (`ModelInfo.problem`)."""
        return [self.model_info(model_id) for model_id in self.model_ids()]

    def model_info(self, model_id: str) -> ModelInfo:
        """What the app and the CLI show about a model; CheckpointError only for an id the catalog lacks."""
        model_id = _resolve(model_id)
        if model_id == TRAINING_FREE:
            return ModelInfo(id=TRAINING_FREE, display_name=TRAINING_FREE_NAME, encoders=_describe(self.default_spec),
                             problem=self.pool.missing(self.default_spec))
        entry = self.catalog.entry(model_id)
        if entry.problem:
            return ModelInfo(id=model_id, display_name=model_id, problem=entry.problem, readable=False)
        config = entry.config
        try:
            spec = self._spec(entry)
            problem = config.compatible_with(spec) or self.pool.missing(spec)
            encoders = _describe(spec)
        except CheckpointError as e:
            problem, encoders = str(e), "unknown"
        return ModelInfo(
            id=model_id, display_name=model_id, architecture=config.model_name, dataset=config.dataset,
            synthetic=config.synthetic, gamma=config.calibration.gamma, alpha=config.calibration.alpha,
            train_classes=config.classes.train, metrics=entry.metrics, has_atlas=entry.has_atlas, encoders=encoders,
            problem=problem,
        )

    def checkpoint(self, model_id: str) -> Checkpoint:
        """The checkpoint, loaded once; CheckpointError when it cannot be used with the encoders in use."""
        entry = self._entry(_resolve(model_id))
        return self._checkpoint(entry, self._spec(entry))

    def _checkpoint(self, entry: Entry, spec) -> Checkpoint:
        problem = entry.config.compatible_with(spec)
        if problem:
            raise CheckpointError(f"{entry.id}: {problem}")
        return self.catalog.load(entry, self.device)

    def report(self, model_id: str):
        """The evaluation report training stored with a checkpoint (avzsl/report/results.py), or None."""
        from avzsl.report.results import load_report

        return load_report(self.catalog.path(model_id))  # a checkpoint the service offers (refuses other paths)

    # --- prediction --------------------------------------------------------------------------------------

    def classify(self, path: str | Path, labels: Sequence[str], model: str = TRAINING_FREE,
                 modality: str = "both", gamma: float | None = None, segments: int = 1,
                 alpha: float | None = None) -> Prediction:
        """Rank `labels` (already parsed, see `parse_labels`) for a video, sound file or picture.

        gamma, alpha: a checkpoint's calibration γ (|γ| <= MAX_GAMMA) and open-vocabulary blend weight α (0 to 1);
        None: its own.

        segments: N evenly spaced moments over the whole file, each ranked on its own; the overall
        ranking pools them (`pool_segments`). N = 1 is the middle frame and the centred audio window.
        """
        if modality not in MODALITIES:
            raise LabelError(f"modality must be one of {MODALITIES}, not {modality!r}")
        if isinstance(labels, str):
            raise TypeError("labels must be a list of labels; split typed text with parse_labels()")
        segments = int(checked_number(segments, "segments", 1, MAX_SEGMENTS, whole=True, default="1") or 1)
        labels = labels if isinstance(labels, Labels) else parse_labels(labels)  # a list from library code: checked
        gamma = checked_number(gamma, "The calibration γ", -MAX_GAMMA, MAX_GAMMA)
        alpha = checked_number(alpha, "The blend weight α", 0.0, 1.0)
        model = _resolve(model)
        entry = self._entry(model)  # the catalog is asked once per request
        spec = self._spec(entry)
        checkpoint = None if entry is None else self._checkpoint(entry, spec)  # fail before decoding
        began = time.perf_counter()

        media, encoders = self.embed_media(path, segments, spec)  # the explanations use the model's encoders too
        warnings = [*media.media.warnings, *_modality_warnings(media, modality)]
        t0 = time.perf_counter()
        prompts = checkpoint.config.prompt_set if checkpoint else None  # None: the default free-text set
        text = encoders.embed_labels(labels, prompts, turns=self._label_lane)  # new labels in turns
        timings = {**media.timings_ms, "labels": _ms_since(t0)}

        t0 = time.perf_counter()
        if checkpoint is None:
            scores = training_free_scores(media, text, modality)
        else:
            scores = checkpoint_scores(checkpoint, encoders, media, text, modality, gamma, alpha)
        distances = scores.calibrated()  # (N, L)
        ranking = rank(labels, pool_segments(distances), scores.temperature, scores.seen)
        timings["model"] = _ms_since(t0)
        per_segment = [SegmentRanking(seg.start_s, seg.end_s, rank(labels, d, scores.temperature, scores.seen))
                       for seg, d in zip(media.media, distances)]
        explanations = {m: rank(labels, pool_segments(training_free_scores(media, text, m).distances), COSINE_TEMPERATURE)
                        for m in ("visual", "audio") if getattr(media, m) is not None}  # each modality alone
        if self.random_encoders:
            scores.warnings.append("Random-weight encoders: these results are meaningless (a test mode).")
        timings["total"] = _ms_since(began)

        best = int(np.argmin(distances[:, labels.index(ranking[0].label)]))  # the segment that fits the answer best
        shown = media.media[best]
        features = {name: rows[best] for name, rows in
                    (("visual", media.visual), ("audio", media.audio), ("joint", scores.joint)) if rows is not None}
        self.answered.set()
        return Prediction(
            ranking=ranking, segments=per_segment, modalities=explanations, timings_ms=timings, kind=media.media.kind,
            frame=shown.frame, audio=shown.audio, sample_rate=media.media.sample_rate, has_audio=media.has_audio,
            warnings=warnings + scores.warnings, model=model, modality=modality, gamma=scores.gamma, alpha=scores.alpha,
            labels=list(labels), video_features=features, label_joint=scores.label_joint, label_text=text.joined,
            segment_frames=[seg.frame for seg in media.media], encoders=encoders.spec)

    def embed_media(self, path: str | Path, segments: int, spec) -> tuple[MediaEmbedding, object]:
        """Decode each segment's frame and audio window (at the sample rate of `spec`'s audio encoder), then
        embed them with the encoders of `spec` in batches of MOMENTS_PER_TURN moments, each a turn of the media
        lane, so another request's moments get in between. Returns the embedding and the encoders.

        Decoding needs no encoders: it runs outside the lane, and on a first request while they are still being
        built (by the app's warm-up), on the other core."""
        from avzsl.media.featurize import MediaEmbedding, decode, featurize

        t0 = time.perf_counter()
        media = decode(path, spec.spec.audio, segments)
        timings = {"decode": _ms_since(t0)}
        encoders = self._encoders(spec)
        pieces = []
        for start in range(0, len(media), MOMENTS_PER_TURN):
            with self._media_lane:
                [piece] = featurize([replace(media, segments=media.segments[start:start + MOMENTS_PER_TURN])],
                                    encoders)
            pieces.append(piece)
        for name in pieces[0].timings_ms:  # "clip_image", "clap_audio": summed over the batches
            timings[name] = sum(piece.timings_ms[name] for piece in pieces)
        visual, audio = ([getattr(piece, rows) for piece in pieces] for rows in ("visual", "audio"))
        return MediaEmbedding(media, None if visual[0] is None else np.concatenate(visual),  # (N, D_v)
                              None if audio[0] is None else np.concatenate(audio), timings), encoders  # (N, D_a)


def _modality_warnings(media: MediaEmbedding, modality: str) -> list[str]:
    """What the user must know about the modalities this file has; a request it cannot serve is an error."""
    what = {"video": "this video", "audio": "this sound file", "image": "this picture"}[media.media.kind]
    if not media.has_audio and modality == "audio":
        raise LabelError(f"Sound only was chosen, but {what} has no audio track.")
    if not media.has_picture and modality == "visual":
        raise LabelError(f"Picture only was chosen, but {what} has no picture.")
    if media.media.kind == "audio":
        return ["A sound file: it was classified by its sound alone."]
    if media.media.kind == "image":
        return ["A picture: it was classified by the picture alone."]
    if not media.has_audio:
        return ["This video has no audio track: it was classified from the picture only."]
    return []


def _resolve(model_id: str | None) -> str:
    """Model ids; the display name of the training-free mode, which avzsl 0.1 took as its id, still works."""
    return TRAINING_FREE if model_id in (None, "", TRAINING_FREE_NAME) else model_id


def _ms_since(t0: float) -> float:
    return 1000 * (time.perf_counter() - t0)


def _describe(spec) -> str:
    return f"{spec.describe()}: {spec.spec.description}"


def create_service(encoders: str = "pretrained", checkpoints_dir: str | Path | None = "checkpoints", device=None, *,
                   label_cache_dir=None, **encoder_files) -> PredictionService:
    """A service whose encoders are loaded on first use: "pretrained" (real weights) or "random" (the same
    architectures with random weights: a test mode). Raises WeightsNotFoundError at once, naming every file,
    when the real weights of the default preset are missing; other presets' are checked per checkpoint."""
    from avzsl.encoders import EncoderPool, WeightsNotFoundError

    if encoders not in ("pretrained", "random"):
        raise ValueError(f"encoders must be 'pretrained' or 'random', not {encoders!r}")
    pool = EncoderPool(encoders == "random", device, label_cache_dir=label_cache_dir, **encoder_files)
    missing = pool.missing(pool.spec())
    if missing:
        raise WeightsNotFoundError(missing)
    return PredictionService(pool, checkpoints_dir=checkpoints_dir, device=device)
