"""CLIP and CLAP encoders: image, audio and prompt-ensembled label embeddings.

    from avzsl.encoders import load_encoders
    enc = load_encoders()            # or load_encoders("random") for tests: no files, meaningless results
    enc.embed_images(frames)         # (N, 512) CLIP, middle frames as (H, W, 3) uint8 RGB
    enc.embed_audio(waveforms)       # (N, 512) CLAP, 10 s mono 48 kHz float32 clips
    enc.embed_labels(["dog barking"], "free-text")   # LabelEmbeddings(labels, clip (K, 512), clap (K, 512))

Importing this package is cheap; open_clip and laion_clap are imported when encoders are first built.
"""

from avzsl.encoders.loader import Encoders, LabelEmbeddings, load_encoders
from avzsl.encoders.prompts import DEFAULT_PROMPT_SET, PROMPT_SETS, PromptSet, get_prompt_set
from avzsl.encoders.spec import EncoderSpec
from avzsl.encoders.text_cache import default_label_cache_dir
from avzsl.encoders.weights import (
    WeightsFormatError,
    WeightsNotFoundError,
    resolve_clap_weights,
    resolve_clip_weights,
    resolve_roberta_files,
)

__all__ = [
    "DEFAULT_PROMPT_SET",
    "PROMPT_SETS",
    "EncoderSpec",
    "Encoders",
    "LabelEmbeddings",
    "PromptSet",
    "WeightsFormatError",
    "WeightsNotFoundError",
    "default_label_cache_dir",
    "get_prompt_set",
    "load_encoders",
    "resolve_clap_weights",
    "resolve_clip_weights",
    "resolve_roberta_files",
]
