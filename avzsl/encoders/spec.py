"""EncoderSpec: which encoders produced a feature. Stored in feature stores and checkpoints.

Kept free of torch / open_clip imports so that readers of stored features can check it cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class EncoderSpec:
    clip_model: str = "ViT-B-32"  # open_clip architecture; QuickGELU is added when the weights need it
    clip_pretrained: str = "openai"  # open_clip weights tag
    clap_model: str = "HTSAT-tiny"  # laion_clap audio architecture (the text tower is always roberta)
    clap_pretrained: str = "630k-audioset-best"  # laion_clap checkpoint name (file <name>.pt)
    random: bool = False  # random weights, same architectures: for tests and smoke runs only
    seed: int = 0  # seed of the random weights; meaningless when random is False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EncoderSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown EncoderSpec fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    @classmethod
    def parse(cls, spec: EncoderSpec | str) -> EncoderSpec:
        """An EncoderSpec, or the shorthands "pretrained" (defaults) and "random" (defaults, random weights)."""
        if isinstance(spec, EncoderSpec):
            return spec
        if spec == "pretrained":
            return cls()
        if spec == "random":
            return cls(random=True)
        raise ValueError(f"encoders must be an EncoderSpec, 'pretrained' or 'random', not {spec!r}")
