"""Encoders: the visual ("CLIP") and audio ("CLAP") towers of one preset behind one object, loaded once per
process (the package docstring shows its use; weights.py says where the weights come from).

The audio side is called CLAP whatever its kind: laion_clap's model, or WavCaps' HTSAT-BERT, which the
ClipClap paper also calls CLAP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from avzsl.encoders.dims import join_text, text_parts
from avzsl.encoders.frames import apply_frame_convention
from avzsl.encoders.presets import DEFAULT_PRESET, Preset
from avzsl.encoders.prompts import PromptSet, ensemble, fill, get_prompt_set
from avzsl.encoders.spec import EncoderSpec
from avzsl.encoders.hub import is_offline
from avzsl.encoders.text_cache import LabelCache, label_key
from avzsl.encoders.weights import (
    AUDIO_SOURCES,
    WeightFiles,
    WeightsFormatError,
    WeightsNotFoundError,
    file_identity,
    find_files,
    preset_sources,
)

if TYPE_CHECKING:
    import torch

    from avzsl.encoders.clip import ClipTower
    from avzsl.encoders.audio_tower import AudioTower

GREY = 128  # value of the stand-in frame's pixels (a mid-grey 224 x 224 frame)
# Labels embedded per forward: 32 prompts per tower with the free-text set, a few seconds of CPU on 2 busy
# cores. Batching more gains little; fewer costs throughput (measured: 1.1 s/label in pieces of 8, 1.8 in
# pieces of 2, 2.7 one by one, 2 cores under load 8). It bounds how long another request waits for its turn.
LABELS_PER_TURN = 8

logger = logging.getLogger(__name__)


@dataclass
class LabelEmbeddings:
    labels: list[str]
    clip: np.ndarray  # (K, D_clip) float32 unit rows, CLIP text prompt ensembles
    clap: np.ndarray  # (K, D_clap) float32 unit rows, CLAP (laion_clap or WavCaps) text prompt ensembles

    @property
    def joined(self) -> np.ndarray:
        """(K, D_clip + D_clap): the [visual text | audio text] layout the models take."""
        return join_text(self.clip, self.clap)


class Encoders:
    def __init__(self, spec: EncoderSpec, clip: ClipTower, clap: AudioTower, *, fingerprint: str,
                 label_cache: LabelCache):
        self.spec = spec
        self.preset: Preset = spec.spec
        self.frames = spec.frames  # frame convention applied to every RGB frame before CLIP's transform (frames.py)
        self.clip = clip  # ClipTower: single-forward methods (encode_text, encode_text_reference, embed_images)
        self.clap = clap  # ClapTower or WavCapsTower (by the preset's audio kind): encode_text(_reference), embed_audio
        self.device: torch.device = clip.device
        self.clip_dim, self.clap_dim = clip.dim, clap.dim
        # The waveforms embed_audio takes: sample_rate Hz (48,000 laion-clap, 32,000 clipclap-release) mono,
        # window_seconds long (window_samples: 480,000 / 320,000).
        audio = self.preset.audio
        self.sample_rate = audio.sample_rate
        self.window_seconds = audio.window_seconds
        self.window_samples = audio.window_samples
        # The label-text layout [CLIP | CLAP] with sizes, as checkpoints record it: (("clip", 512), ("clap", D)).
        self.text_parts = text_parts(self.clip_dim, self.clap_dim)
        self.fingerprint = fingerprint  # spec + identity of the files the weights and tokenizer came from
        self.label_cache = label_cache
        self._stand_ins: dict[str, np.ndarray] = {}  # "silence" / "grey frame" -> (D,) embedding, computed once
        self._stand_in_lock = threading.Lock()

    def embed_images(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(H, W, 3) uint8 RGB frames (or PIL images) -> (N, clip_dim) float32 unit rows.

        Each frame first goes through the spec's frame convention ("rgb" leaves it as it is)."""
        return _numpy(self.clip.embed_images([apply_frame_convention(f, self.frames) for f in frames]))

    def embed_audio(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """(N, window_samples) float32 mono waveforms at sample_rate (exactly 10 s) -> (N, clap_dim) float32 unit rows."""
        return _numpy(self.clap.embed_audio(waveforms))

    def silence_embedding(self) -> np.ndarray:
        """(clap_dim,) embedding of window_seconds of silence: the stand-in for a video without sound."""
        return self._stand_in("silence", lambda: self.embed_audio(np.zeros((1, self.window_samples), np.float32))[0])

    def grey_frame_embedding(self) -> np.ndarray:
        """(clip_dim,) embedding of a mid-grey 224 x 224 frame: the stand-in for a missing picture."""
        return self._stand_in("grey frame", lambda: self.embed_images([np.full((224, 224, 3), GREY, np.uint8)])[0])

    def _stand_in(self, name: str, compute) -> np.ndarray:
        with self._stand_in_lock:
            if name not in self._stand_ins:
                x = np.array(compute(), dtype=np.float32)
                x.flags.writeable = False  # shared by every caller
                self._stand_ins[name] = x
            return self._stand_ins[name]

    def embed_labels(self, labels: Sequence[str], templates: PromptSet | str | None = None, *,
                     turns: AbstractContextManager | None = None) -> LabelEmbeddings:
        """Prompt-ensembled text embeddings of free-text labels (default prompt set: "free-text").

        Labels already embedded with the same templates and encoders come from the cache; the rest are
        encoded together, all prompts of all labels in a few batched forwards per tower. With `turns` (a
        lock, avzsl.serving.turns.Turns) they are encoded LABELS_PER_TURN at a time, holding the lock for each
        piece only, so that other requests' work gets in between the pieces of a long one.
        """
        prompts = get_prompt_set(templates)
        labels = list(labels)
        for label in labels:
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"labels must be non-empty strings, got {label!r}")
        keys = {label: label_key(label, prompts, self.fingerprint) for label in labels}
        found = {label: self.label_cache.get(key) for label, key in keys.items()}
        missing = [label for label, entry in found.items() if entry is None]
        step = LABELS_PER_TURN if turns is not None else max(len(missing), 1)
        for start in range(0, len(missing), step):
            piece = missing[start:start + step]
            with turns or contextlib.nullcontext():
                clip = ensemble(self.clip.encode_text(fill(prompts.clip_templates, piece)), len(prompts.clip_templates))
                clap = ensemble(self.clap.encode_text(fill(prompts.clap_templates, piece)), len(prompts.clap_templates))
            for label, c, a in zip(piece, _numpy(clip), _numpy(clap)):
                found[label] = self.label_cache.put(keys[label], c, a, label=label)
        return LabelEmbeddings(
            labels=labels,
            clip=np.stack([found[label][0] for label in labels]) if labels else np.empty((0, self.clip_dim), np.float32),
            clap=np.stack([found[label][1] for label in labels]) if labels else np.empty((0, self.clap_dim), np.float32),
        )


# Process-wide: the towers hold ~1.2 GB of weights and take seconds to build. They are keyed by what builds
# them, so specs that differ only in their frame convention, or presets with the same visual encoder (both
# shipped presets), share them; the fingerprint (label cache keys) covers the whole spec.
_towers: dict[tuple, ClipTower | AudioTower] = {}
_loaded: dict[tuple, Encoders] = {}
_load_lock = threading.Lock()

# How random-mode weights come about (state.fill_random, the towers' seeded builds, frontend's STFT and mel
# filters); change it when any of them changes: label texts cached under an older scheme are then not served.
RANDOM_WEIGHTS_SCHEME = "empty-normal-3"


def load_encoders(
    spec: EncoderSpec | str = "pretrained",
    device: str | torch.device | None = None,
    *,
    files: WeightFiles | None = None,
    label_cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
) -> Encoders:
    """Build (once per process and set of arguments) the encoders of a preset.

    spec: an EncoderSpec, or a shorthand (EncoderSpec.parse): "pretrained" / "random" (preset laion-clap,
        real / seeded random weights), a preset name ("clipclap-release"), or "PRESET:random". Random
        weights: same architectures, no files or network needed, for tests and smoke runs; results are
        meaningless.
    device: default CPU.
    files: weight files and tokenizer folders given on the command line (weights.WeightFiles), overriding
        their environment variables and the caches; files for the other audio kind are refused rather than
        ignored. Real mode only.
    label_cache_dir: also keep label embeddings on disk there (e.g. text_cache.default_label_cache_dir());
        default: in memory only.
    offline: never fetch missing files from the Hugging Face hub (default: $HF_HUB_OFFLINE); online, files
        found nowhere else are fetched into its cache on first use (hub.py).
    Raises WeightsNotFoundError (a FileNotFoundError) naming every missing file and how to provide it,
    HubUnreachableError when a fetch fails, WeightsFormatError for a damaged file or one made for another model.
    """
    import torch  # here, not at the top: a pool (and the app's page) is made before torch is imported

    spec = EncoderSpec.parse(spec)
    preset = spec.spec
    device = torch.device(device or "cpu")
    files = files or WeightFiles()
    if spec.random:
        if files.given():
            raise ValueError("weight files were given for random-weight encoders; use real-weight encoders to load them")
        logger.warning(
            "random-weight encoders: results are meaningless (preset %s: %s + %s %s architectures, seed %d)",
            spec.preset, preset.visual.open_clip_model, preset.audio.kind, preset.audio.model, spec.seed,
        )
        found = {}
    else:
        found = find_files(preset, files, offline=offline)
    identity = {name: [file_identity(p) for p in paths] for name, paths in found.items()}
    # Random weights are identified by how they are drawn too: label texts cached under an older scheme's
    # weights must not be served for these.
    made_from = identity if not spec.random else {"random_weights": RANDOM_WEIGHTS_SCHEME}
    fingerprint = hashlib.sha256(json.dumps([spec.to_dict(), made_from], sort_keys=True).encode()).hexdigest()[:16]
    weights = (spec.random, spec.seed if spec.random else None, str(device))
    clip_key = (preset.visual, json.dumps(identity.get("clip_weights"))) + weights  # frozen dataclasses: hashable
    audio_key = (preset.audio, json.dumps({k: v for k, v in identity.items() if k != "clip_weights"}, sort_keys=True)) + weights
    key = (fingerprint, str(device), None if label_cache_dir is None else os.fspath(label_cache_dir))
    with _load_lock:
        if key not in _loaded:  # another label cache folder shares the towers
            if clip_key not in _towers:
                from avzsl.encoders.clip import ClipTower  # heavy import, on first use

                (clip_weights,) = found.get("clip_weights", (None,))
                _towers[clip_key] = ClipTower.build(preset.visual.open_clip_model, preset.visual.open_clip_pretrained,
                                                    clip_weights, seed=spec.seed, device=device)
            if audio_key not in _towers:
                if preset.audio.kind == "wavcaps":  # heavy imports, on first use
                    from avzsl.encoders.wavcaps import WavCapsTower as Tower
                else:
                    from avzsl.encoders.clap import ClapTower as Tower
                weights_field, tokenizer_field = AUDIO_SOURCES[preset.audio.kind]
                (audio_weights,) = found.get(weights_field, (None,))
                _towers[audio_key] = Tower.build(preset.audio, audio_weights, found.get(tokenizer_field), seed=spec.seed,
                                                 device=device)
            _loaded[key] = Encoders(spec, _towers[clip_key], _towers[audio_key], fingerprint=fingerprint,
                                    label_cache=LabelCache(directory=label_cache_dir))
        return _loaded[key]


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().float().numpy()


class EncoderPool:
    """The encoders of whichever presets a process needs, each loaded once, on first use.

    A prediction service serves checkpoints whose features came from different presets; the pool gives
    each the encoders it needs, with the weights mode (real or random) and local files the process was
    started with. `missing(spec)` says, in milliseconds and without building anything, why a preset's
    real weights cannot be loaded here.
    """

    def __init__(self, random: bool = False, device: str | torch.device | None = None, *,
                 label_cache_dir: str | os.PathLike | None = None, offline: bool | None = None,
                 files: WeightFiles | None = None):
        self.random = random
        self.device = device or "cpu"  # a name or a torch.device: load_encoders makes it one
        self.label_cache_dir = label_cache_dir
        self.offline = is_offline(offline)  # False: weights the hub has are fetched on first use
        self.files = files or WeightFiles()  # given on the command line, any audio kind
        self._given: dict[EncoderSpec, Encoders] = {}

    @classmethod
    def of(cls, encoders: Encoders) -> EncoderPool:
        """A pool that serves `encoders` for its own spec (and loads others like it)."""
        pool = cls(encoders.spec.random, encoders.device)
        pool._given[encoders.spec] = encoders
        return pool

    def spec(self, preset: str | None = None, frames: str | None = None) -> EncoderSpec:
        """The spec this pool loads for a preset (default: the default preset) and frame convention."""
        return EncoderSpec(preset or DEFAULT_PRESET, frames, random=self.random)

    def get(self, spec: EncoderSpec) -> Encoders:
        spec = dataclasses.replace(spec, random=self.random)
        if spec not in self._given:  # load_encoders shares towers process-wide; kept here so it is asked once
            self._given[spec] = load_encoders(spec, self.device, label_cache_dir=self.label_cache_dir,
                                              offline=self.offline, files=self._files_for(spec.spec))
        return self._given[spec]

    def is_loaded(self, spec: EncoderSpec) -> bool:
        """Whether get(spec) answers at once (no fetching or building left to do)."""
        return dataclasses.replace(spec, random=self.random) in self._given

    def missing(self, spec: EncoderSpec) -> str | None:
        """Why the real weights of `spec`'s preset cannot be had here (the not-found or damaged-file message),
        or None. Looks only on this machine, in milliseconds: online, files the hub has count as found."""
        if self.random or self.is_loaded(spec):
            return None
        try:
            find_files(spec.spec, self._files_for(spec.spec), offline=True)
        except WeightsNotFoundError as e:
            return None if e.fetchable and not self.offline else str(e)
        except WeightsFormatError as e:
            return str(e)
        return None

    def _files_for(self, preset: Preset) -> WeightFiles:
        """The given files `preset` reads (none for random weights, which read no files)."""
        if self.random:
            return WeightFiles()
        wanted = {source.field for source in preset_sources(preset)}
        return WeightFiles(**{k: v for k, v in self.files.given().items() if k in wanted})
