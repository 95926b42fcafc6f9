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
Importing this package is cheap: each name below is imported from its module on first use, so that
`import avzsl.encoders.spec` (or presets, weights) does not import torch; open_clip and laion_clap are
imported when encoders are first built.
"""

import importlib

_HOMES = {  # name -> the module that defines it
    "avzsl.encoders.frames": ("FRAME_CONVENTIONS", "apply_frame_convention"),
    "avzsl.encoders.loader": ("EncoderPool", "Encoders", "LabelEmbeddings", "load_encoders"),
    "avzsl.encoders.presets": ("DEFAULT_PRESET", "PRESETS", "RELEASE_FRAMES", "Preset", "get_preset", "list_presets",
                               "release_frames"),
    "avzsl.encoders.prompts": ("DEFAULT_PROMPT_SET", "PROMPT_SETS", "PromptSet", "get_prompt_set"),
    "avzsl.encoders.spec": ("EncoderSpec", "serving_problem"),
    "avzsl.encoders.text_cache": ("default_label_cache_dir",),
    "avzsl.encoders.weights": ("SOURCES", "WeightFiles", "WeightsFormatError", "WeightsNotFoundError", "resolve"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'avzsl.encoders' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value  # imported once
    return value
