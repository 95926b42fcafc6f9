"""Encoders: CLIP and CLAP behind one object, loaded once per process.

    enc = load_encoders()                                     # real weights (see weights.py for where from)
    enc = load_encoders("random")                             # same architectures, random weights, no files
    v = enc.embed_images(frames)                              # (N, 512) CLIP image embeddings
    a = enc.embed_audio(waveforms)                            # (N, 512) CLAP audio embeddings
    t = enc.embed_labels(["dog barking", "playing guitar"])   # prompt-ensembled CLIP and CLAP text, cached
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from avzsl.encoders.prompts import PromptSet, ensemble, fill, get_prompt_set
from avzsl.encoders.spec import EncoderSpec
from avzsl.encoders.text_cache import LabelCache, label_key
from avzsl.encoders.weights import (
    WeightsNotFoundError,
    file_identity,
    resolve_clap_weights,
    resolve_clip_weights,
    resolve_roberta_files,
)

if TYPE_CHECKING:
    from avzsl.encoders.clap import ClapTower
    from avzsl.encoders.clip import ClipTower

logger = logging.getLogger(__name__)


@dataclass
class LabelEmbeddings:
    labels: list[str]
    clip: np.ndarray  # (K, D_clip) float32 unit rows, CLIP text prompt ensembles
    clap: np.ndarray  # (K, D_clap) float32 unit rows, CLAP text prompt ensembles

    @property
    def joined(self) -> np.ndarray:
        """(K, D_clip + D_clap): the [visual text | audio text] layout the models take."""
        return np.concatenate([self.clip, self.clap], axis=1)


class Encoders:
    def __init__(self, spec: EncoderSpec, clip: ClipTower, clap: ClapTower, *, fingerprint: str, label_cache: LabelCache):
        self.spec = spec
        self.clip = clip  # ClipTower: single-forward methods (encode_text, encode_text_reference, embed_images)
        self.clap = clap  # ClapTower: likewise for CLAP (encode_text, encode_text_reference, embed_audio)
        self.fingerprint = fingerprint  # spec + identity of the files the weights and tokenizer came from
        self.label_cache = label_cache
        self._silence = self._grey = None  # stand-in embeddings, computed on first use

    @property
    def device(self) -> torch.device:
        return self.clip.device

    @property
    def sample_rate(self) -> int:
        return 48_000  # CLAP's audio rate

    @property
    def window_samples(self) -> int:
        return self.clap.window_samples

    @property
    def clip_dim(self) -> int:
        return self.clip.dim

    @property
    def clap_dim(self) -> int:
        return self.clap.dim

    def embed_images(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(H, W, 3) uint8 RGB frames (or PIL images) -> (N, clip_dim) float32 unit rows."""
        return _numpy(self.clip.embed_images(frames))

    def embed_audio(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """(N, 480000) float32 mono 48 kHz waveforms (exactly 10 s) -> (N, clap_dim) float32 unit rows."""
        return _numpy(self.clap.embed_audio(waveforms))

    def silence_embedding(self) -> np.ndarray:
        """(clap_dim,) embedding of 10 s of silence: the stand-in for a missing sound track."""
        if self._silence is None:
            self._silence = self.embed_audio(np.zeros((1, self.clap.window_samples), np.float32))[0]
        return self._silence

    def grey_frame_embedding(self) -> np.ndarray:
        """(clip_dim,) embedding of a mid-grey 224x224 frame: the stand-in for a missing picture."""
        if self._grey is None:
            self._grey = self.embed_images([np.full((224, 224, 3), 128, np.uint8)])[0]
        return self._grey

    def embed_labels(self, labels: Sequence[str], templates: PromptSet | str | None = None) -> LabelEmbeddings:
        """Prompt-ensembled text embeddings of free-text labels (default prompt set: "free-text").

        Labels already embedded with the same templates and encoders come from the cache; the rest are
        encoded together, all prompts of all labels in a few batched forwards per tower.
        """
        prompts = get_prompt_set(templates)
        labels = list(labels)
        for label in labels:
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"labels must be non-empty strings, got {label!r}")
        keys = {label: label_key(label, prompts, self.fingerprint) for label in labels}
        found = {label: self.label_cache.get(key) for label, key in keys.items()}
        missing = [label for label, entry in found.items() if entry is None]
        if missing:
            clip = ensemble(self.clip.encode_text(fill(prompts.clip_templates, missing)), len(prompts.clip_templates))
            clap = ensemble(self.clap.encode_text(fill(prompts.clap_templates, missing)), len(prompts.clap_templates))
            for label, c, a in zip(missing, _numpy(clip), _numpy(clap)):
                found[label] = self.label_cache.put(keys[label], c, a, label=label)
        return LabelEmbeddings(
            labels=labels,
            clip=np.stack([found[label][0] for label in labels]) if labels else np.empty((0, self.clip_dim), np.float32),
            clap=np.stack([found[label][1] for label in labels]) if labels else np.empty((0, self.clap_dim), np.float32),
        )


# Process-wide: the towers hold ~1.2 GB of weights and take seconds to build.
_towers: dict[tuple, tuple[ClipTower, ClapTower]] = {}
_loaded: dict[tuple, Encoders] = {}
_load_lock = threading.Lock()


def load_encoders(
    spec: EncoderSpec | str = "pretrained",
    device: str | torch.device | None = None,
    *,
    clip_weights: str | os.PathLike | None = None,
    clap_weights: str | os.PathLike | None = None,
    roberta_dir: str | os.PathLike | None = None,
    label_cache_dir: str | os.PathLike | None = None,
) -> Encoders:
    """Build (once per process and set of arguments) the CLIP and CLAP encoders.

    spec: an EncoderSpec, "pretrained" (the defaults) or "random" (same architectures, seeded random
        weights, no files or network needed: for tests and smoke runs; results are meaningless).
    device: default CPU.
    clip_weights / clap_weights / roberta_dir: local files, overriding $AVZSL_CLIP_WEIGHTS /
        $AVZSL_CLAP_WEIGHTS / $AVZSL_ROBERTA_DIR and the caches (see weights.py). Real mode only.
    label_cache_dir: also keep label embeddings on disk there (e.g. text_cache.default_label_cache_dir());
        default: in memory only.
    Raises WeightsNotFoundError (a FileNotFoundError) naming the missing file and how to provide it.
    """
    spec = EncoderSpec.parse(spec)
    device = torch.device(device or "cpu")
    if spec.random:
        if clip_weights or clap_weights or roberta_dir:
            raise ValueError("weight files were given for random-weight encoders; use spec 'pretrained' to load them")
        logger.warning(
            "random-weight encoders: results are meaningless (%s + %s/roberta architectures, seed %d)",
            spec.clip_model, spec.clap_model, spec.seed,
        )
        files = {}
    else:
        files = _resolve_files(spec, clip_weights, clap_weights, roberta_dir)
    identity = {name: file_identity(path) for name, path in files.items()}
    fingerprint = hashlib.sha256(json.dumps([spec.to_dict(), identity], sort_keys=True).encode()).hexdigest()[:16]
    towers_key = (fingerprint, str(device))
    key = towers_key + (None if label_cache_dir is None else os.fspath(label_cache_dir),)
    with _load_lock:
        if towers_key not in _towers:
            _towers[towers_key] = _build_towers(spec, device, files)
        if key not in _loaded:  # another label cache folder shares the towers
            clip, clap = _towers[towers_key]
            _loaded[key] = Encoders(spec, clip, clap, fingerprint=fingerprint, label_cache=LabelCache(directory=label_cache_dir))
        return _loaded[key]


def _resolve_files(spec: EncoderSpec, clip_weights, clap_weights, roberta_dir) -> dict:
    """Every file real mode needs, found before any building: what is missing is reported at once, in
    milliseconds, rather than one file per attempt after seconds of building."""
    files, missing = {}, []
    resolvers = {
        "clip": lambda: resolve_clip_weights(spec.clip_model, spec.clip_pretrained, clip_weights),
        "clap": lambda: resolve_clap_weights(spec.clap_pretrained, clap_weights),
        "roberta": lambda: resolve_roberta_files(roberta_dir),
    }
    for name, resolve in resolvers.items():
        try:
            files[name] = resolve()
        except WeightsNotFoundError as e:
            missing.append(str(e))
    if missing:
        raise WeightsNotFoundError("\n\n".join(missing))
    files["vocab"], files["merges"] = files.pop("roberta")
    return files


def _build_towers(spec: EncoderSpec, device: torch.device, files: dict) -> tuple[ClipTower, ClapTower]:
    from avzsl.encoders.clap import ClapTower, OfflineTokenizer, RobertaBPETokenizer  # heavy imports, on first use
    from avzsl.encoders.clip import ClipTower

    if spec.random:
        tokenizer = OfflineTokenizer()
    else:
        logger.info("loading CLIP %s / %s from %s", spec.clip_model, spec.clip_pretrained, files["clip"])
        logger.info("loading CLAP %s / %s from %s", spec.clap_model, spec.clap_pretrained, files["clap"])
        tokenizer = RobertaBPETokenizer(files["vocab"], files["merges"])
    clip = ClipTower.build(spec.clip_model, spec.clip_pretrained, files.get("clip"), seed=spec.seed, device=device)
    clap = ClapTower.build(spec.clap_model, spec.clap_pretrained, files.get("clap"), tokenizer, seed=spec.seed, device=device)
    return clip, clap


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float32).numpy()
