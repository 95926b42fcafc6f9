"""CLIP and CLAP encoders of a preset: image, audio and prompt-ensembled label embeddings.

`load_encoders()` loads preset laion-clap with real weights, `load_encoders("clipclap-release")` the
ClipClap release's encoders (WavCaps HTSAT-BERT audio, 1024-d); "random" / "PRESET:random" build the same
architectures with random weights (no files, meaningless results: a test mode):

    >>> import numpy as np
    >>> from avzsl.encoders import load_encoders
    >>> enc = load_encoders("clipclap-release:random")
    >>> enc.sample_rate, enc.window_samples, enc.clip_dim, enc.clap_dim
    (32000, 320000, 512, 1024)
    >>> enc.embed_images([np.zeros((240, 320, 3), np.uint8)]).shape     # (H, W, 3) uint8 RGB frames
    (1, 512)
    >>> enc.embed_audio(np.zeros((2, enc.window_samples), np.float32)).shape   # mono windows at sample_rate
    (2, 1024)
    >>> text = enc.embed_labels(["dog barking", "rain"], "free-text")   # prompt ensembles, cached
    >>> text.clip.shape, text.clap.shape
    ((2, 512), (2, 1024))

Presets (presets.py) name the encoders; EncoderSpec (spec.py) = preset + frame convention + random mode,
and `serving_problem(made_by, serving)` says whether features of one spec may be served by another.
Importing this package is cheap; open_clip and laion_clap are imported when encoders are first built.
"""

from avzsl.encoders.frames import FRAME_CONVENTIONS, apply_frame_convention
from avzsl.encoders.loader import EncoderPool, Encoders, LabelEmbeddings, load_encoders
from avzsl.encoders.presets import DEFAULT_PRESET, PRESETS, RELEASE_FRAMES, Preset, get_preset, list_presets, release_frames
from avzsl.encoders.prompts import DEFAULT_PROMPT_SET, PROMPT_SETS, PromptSet, get_prompt_set
from avzsl.encoders.spec import EncoderSpec, serving_problem
from avzsl.encoders.text_cache import default_label_cache_dir
from avzsl.encoders.weights import (
    WeightsFormatError,
    WeightsNotFoundError,
    resolve_bert_files,
    resolve_clap_weights,
    resolve_clip_weights,
    resolve_roberta_files,
    resolve_wavcaps_weights,
)

__all__ = [
    "DEFAULT_PRESET",
    "DEFAULT_PROMPT_SET",
    "FRAME_CONVENTIONS",
    "PRESETS",
    "PROMPT_SETS",
    "RELEASE_FRAMES",
    "EncoderPool",
    "EncoderSpec",
    "Encoders",
    "LabelEmbeddings",
    "Preset",
    "PromptSet",
    "WeightsFormatError",
    "WeightsNotFoundError",
    "apply_frame_convention",
    "default_label_cache_dir",
    "get_preset",
    "get_prompt_set",
    "list_presets",
    "load_encoders",
    "release_frames",
    "resolve_bert_files",
    "resolve_clap_weights",
    "resolve_clip_weights",
    "resolve_roberta_files",
    "resolve_wavcaps_weights",
    "serving_problem",
]
