"""Encoder presets: which image, audio and text encoders make a feature space, written down as data.

A preset names everything that decides where an embedding lands: the visual encoder (open_clip
architecture + weights tag), the audio encoder (its kind, checkpoint, sample rate, window and size), the
text tower on each side, the frame convention the visual encoder is fed, and the prompt sets that turn a
class name into text. Features made with one preset live in a different space from another's: a model
trained on one must be served by the same preset (see spec.serving_problem).

    >>> get_preset("clipclap-release").audio.sample_rate, get_preset("clipclap-release").audio.dim
    (32000, 1024)
    >>> list_presets()
    ['clipclap-release', 'laion-clap']
    >>> release_frames("UCF"), get_preset("laion-clap").prompt_set_for("VGGSound")
    ('bgr-float255', 'vggsound')

Two presets ship (PRESETS, each described there): `laion-clap`, the default and avzsl's own feature space,
and `clipclap-release`, the extractor of the ClipClap feature release (reference §3.2/§3.3/§4), whose frame
convention differs per data set (RELEASE_FRAMES).

Kept free of torch imports, like spec.py, so readers of stored features can check a spec cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from avzsl.encoders.frames import FRAME_CONVENTIONS


@dataclass(frozen=True)
class VisualEncoder:
    open_clip_model: str = "ViT-B-32"  # open_clip architecture; QuickGELU is added when the weights need it
    open_clip_pretrained: str = "openai"  # open_clip weights tag (the same OpenAI weights as `clip.load("ViT-B/32")`)
    dim: int = 512  # image and image-text embedding size
    text_context: int = 77  # CLIP tokenizer context (prompts are truncated to it)


@dataclass(frozen=True)
class AudioEncoder:
    kind: str  # "laion-clap" (clap.py) or "wavcaps" (wavcaps.py): which tower class builds it
    model: str  # architecture name within that kind: "HTSAT-tiny" (laion_clap) / "HTSAT-BERT" (WavCaps)
    checkpoint: str  # weights name: laion_clap "<name>.pt" / WavCaps "<name>.pt"
    sample_rate: int  # Hz of the waveforms the tower takes
    window_seconds: float  # length of the (centred) clip it takes; shorter audio is zero-padded at the end
    dim: int  # audio and audio-text joint embedding size
    text_model: str  # the audio side's text tower (its tokenizer files are resolved in weights.py)
    text_max_tokens: int  # prompts are truncated to this many tokens, special tokens included
    n_mels: int  # log-mel front end (inside the tower's forward): mel bins
    n_fft: int  # STFT window length (= n_fft) in samples
    hop: int  # STFT hop in samples
    fmin: float  # lowest mel frequency, Hz
    fmax: float  # highest mel frequency, Hz

    @property
    def window_samples(self) -> int:
        return round(self.sample_rate * self.window_seconds)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str  # one line for logs and the app
    visual: VisualEncoder
    audio: AudioEncoder
    frames: str  # default frame convention (frames.py) for this preset's visual encoder
    # benchmark -> prompt set name (prompts.PROMPT_SETS); "free-text" is the set for arbitrary user labels
    prompt_sets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.frames not in FRAME_CONVENTIONS:
            raise ValueError(f"preset {self.name!r}: unknown frame convention {self.frames!r}; known: {FRAME_CONVENTIONS}")
        if self.audio.kind not in AUDIO_KINDS:
            raise ValueError(f"preset {self.name!r}: unknown audio encoder kind {self.audio.kind!r}; known: {AUDIO_KINDS}")
        if "free-text" not in self.prompt_sets:
            raise ValueError(f"preset {self.name!r} needs a 'free-text' prompt set for user labels")

    def prompt_set_for(self, benchmark: str | None = None) -> str:
        """The prompt set name for a benchmark ("UCF", "ActivityNet", "VGGSound"; case-insensitive), else free text."""
        by_lower = {k.lower(): v for k, v in self.prompt_sets.items()}
        return by_lower.get((benchmark or "free-text").lower(), self.prompt_sets["free-text"])

    def to_dict(self) -> dict:
        """The whole spec as plain JSON types (stored with features so a changed preset is noticed)."""
        return asdict(self)


AUDIO_KINDS = ("laion-clap", "wavcaps")

# Reference §3.2/§3.3: the release's template sets per benchmark (prompts.py holds them, CLIP and CLAP side).
_RELEASE_PROMPTS = {"UCF": "ucf-activitynet", "ActivityNet": "ucf-activitynet", "VGGSound": "vggsound", "free-text": "free-text"}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="laion-clap",
            description="open_clip ViT-B-32/openai + laion_clap HTSAT-tiny 630k-audioset-best (48 kHz, 512-d)",
            visual=VisualEncoder(),
            audio=AudioEncoder(
                kind="laion-clap", model="HTSAT-tiny", checkpoint="630k-audioset-best",
                sample_rate=48_000, window_seconds=10.0, dim=512,
                text_model="roberta-base", text_max_tokens=77,  # laion_clap: padding to 77, truncation
                # laion_clap's audio_cfg for HTSAT-tiny (model_configs/HTSAT-tiny.json)
                n_mels=64, n_fft=1024, hop=480, fmin=50.0, fmax=14_000.0,
            ),
            frames="rgb",
            prompt_sets=dict(_RELEASE_PROMPTS),
        ),
        Preset(
            name="clipclap-release",
            description="the ClipClap feature release's extractor: CLIP ViT-B/32 (OpenAI) + WavCaps HTSAT-BERT "
                        "zero-shot (32 kHz, 1024-d)",
            visual=VisualEncoder(),
            audio=AudioEncoder(
                kind="wavcaps", model="HTSAT-BERT", checkpoint="HTSAT_BERT_zero_shot",
                sample_rate=32_000, window_seconds=10.0, dim=1024,
                # WavCaps retrieval/models/text_encoder.py: padding="longest", truncation, max_length=30
                text_model="bert-base-uncased", text_max_tokens=30,
                # WavCaps retrieval/settings/inference.yaml, audio_args (reference §4.2)
                n_mels=64, n_fft=1024, hop=320, fmin=50.0, fmax=14_000.0,
            ),
            frames="bgr",  # ActivityNet and VGGSound; UCF's extraction saw "bgr-float255" (RELEASE_FRAMES)
            prompt_sets=dict(_RELEASE_PROMPTS),
        ),
    )
}
DEFAULT_PRESET = "laion-clap"

# The frame convention each data set of the ClipClap release was extracted with (reference §4.1):
# OpenCV's BGR frames straight into PIL; UCF's also as a 0-255 float tensor through torchvision's ToPILImage.
RELEASE_FRAMES = {"UCF": "bgr-float255", "ActivityNet": "bgr", "VGGSound": "bgr"}


def registered(table: dict, name, default: str, what: str):
    """`table[name]` (None -> `default`; a value that is not a name is returned unchanged), or a ValueError
    naming the known names."""
    if name is not None and not isinstance(name, str):
        return name
    try:
        return table[name or default]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; known: {sorted(table)}") from None


def get_preset(name: str | Preset | None = None) -> Preset:
    """A registered preset by name (None -> the default), or the given Preset unchanged."""
    return registered(PRESETS, name, DEFAULT_PRESET, "encoder preset")


def list_presets() -> list[str]:
    return sorted(PRESETS)


def release_frames(dataset: str) -> str:
    """Frame convention of the ClipClap release's features for a data set name (case-insensitive)."""
    by_lower = {k.lower(): v for k, v in RELEASE_FRAMES.items()}
    try:
        return by_lower[dataset.lower()]
    except KeyError:
        raise ValueError(f"the ClipClap release has no data set {dataset!r}; known: {sorted(RELEASE_FRAMES)}") from None
