"""CLIP and CLAP encoders of a preset: image, audio and prompt-ensembled label embeddings.

    from avzsl.encoders import load_encoders
    enc = load_encoders()            # preset laion-clap; load_encoders("random") for tests: no files, meaningless
    enc = load_encoders("clipclap-release")   # the ClipClap release's encoders (WavCaps HTSAT-BERT audio, 1024-d)
    enc.embed_images(frames)         # (N, 512) CLIP, middle frames as (H, W, 3) uint8 RGB
    enc.embed_audio(waveforms)       # (N, clap_dim) CLAP, (N, enc.window_samples) mono float32 at enc.sample_rate
    enc.embed_labels(["dog barking"], "free-text")   # LabelEmbeddings(labels, clip (K, 512), clap (K, clap_dim))

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
