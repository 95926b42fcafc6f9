"""EncoderSpec: which encoders produced a feature. Stored in feature stores and checkpoints.

A spec is a preset name (presets.py), the frame convention the visual encoder was fed, and whether the
weights were random (a test mode). `to_dict()` also writes the preset's whole spec, so a reader can tell
what made the features without this version of avzsl's registry, and notice when a preset was changed:

    {"preset": "clipclap-release", "frames": "bgr", "random": false, "seed": 0,
     "preset_spec": {"name": ..., "visual": {...}, "audio": {...}, "frames": ..., "prompt_sets": {...}}}

`from_dict` also reads the shape avzsl wrote before presets existed ({clip_model, clip_pretrained,
clap_model, clap_pretrained, random, seed}), which always described today's `laion-clap` preset.

Kept free of torch / open_clip imports so that readers of stored features can check it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avzsl.encoders.frames import FRAME_CONVENTIONS
from avzsl.encoders.presets import DEFAULT_PRESET, Preset, get_preset, list_presets

# The fields of the pre-preset spec, and the values they had for laion-clap (the only encoders then).
_LEGACY_FIELDS = ("clip_model", "clip_pretrained", "clap_model", "clap_pretrained")
_LEGACY_LAION_CLAP = ("ViT-B-32", "openai", "HTSAT-tiny", "630k-audioset-best")
_FIELDS = ("preset", "frames", "random", "seed")
_FEATURE_SPACE = ("visual", "audio")  # the parts of a preset's spec that decide where an embedding lands


@dataclass(frozen=True)
class EncoderSpec:
    preset: str = DEFAULT_PRESET  # name in presets.PRESETS
    frames: str | None = None  # frame convention (frames.py); None -> the preset's own
    random: bool = False  # random weights, same architectures: for tests and smoke runs only
    seed: int = 0  # seed of the random weights; meaningless when random is False
    # The preset's spec as a file recorded it (from_dict); None: this avzsl's registry. Kept so that a preset
    # changed since the features were made is noticed (serving_problem) and a re-written record stays true.
    recorded_spec: dict | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self):
        preset = get_preset(self.preset)  # unknown names fail here, with the known ones listed
        if self.frames is None:
            object.__setattr__(self, "frames", preset.frames)  # so EncoderSpec() == EncoderSpec(frames="rgb")
        elif self.frames not in FRAME_CONVENTIONS:
            raise ValueError(f"unknown frame convention {self.frames!r}; known: {FRAME_CONVENTIONS}")

    @property
    def spec(self) -> Preset:
        """The registered preset this spec names."""
        return get_preset(self.preset)

    def to_dict(self) -> dict:
        return {"preset": self.preset, "frames": self.frames, "random": self.random, "seed": self.seed,
                "preset_spec": self.recorded_spec or self.spec.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> EncoderSpec:
        """Read `to_dict()`'s shape, or the pre-preset shape (-> preset laion-clap, frames rgb)."""
        d = dict(d)
        legacy = "preset" not in d and any(k in d for k in _LEGACY_FIELDS)
        known = _LEGACY_FIELDS + ("random", "seed") if legacy else _FIELDS + ("preset_spec",)
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"unknown EncoderSpec fields {sorted(unknown)}; known{' (pre-preset shape)' if legacy else ''}: "
                             f"{sorted(known)}")
        if not legacy:
            recorded = d.pop("preset_spec", None)  # serving_problem compares it with the registry's
            if recorded is not None and not isinstance(recorded, dict):
                raise ValueError(f"preset_spec must be a JSON object, not {type(recorded).__name__}")
            return cls(**d, recorded_spec=recorded)
        values = tuple(d.get(k, default) for k, default in zip(_LEGACY_FIELDS, _LEGACY_LAION_CLAP))
        if values != _LEGACY_LAION_CLAP:
            raise ValueError(f"encoders {dict(zip(_LEGACY_FIELDS, values))} match no preset: before presets avzsl only "
                             f"used {dict(zip(_LEGACY_FIELDS, _LEGACY_LAION_CLAP))} (preset laion-clap)")
        return cls(preset="laion-clap", frames="rgb", random=bool(d.get("random", False)), seed=int(d.get("seed", 0)))

    @classmethod
    def parse(cls, spec: EncoderSpec | str) -> EncoderSpec:
        """An EncoderSpec, or a shorthand: "pretrained" / "random" (the default preset, real / random weights),
        a preset name ("clipclap-release"), or a preset name with ":random" ("clipclap-release:random")."""
        if isinstance(spec, EncoderSpec):
            return spec
        name, _, mode = str(spec).partition(":")
        if name in ("pretrained", "random") and not mode:  # the default preset
            name, mode = DEFAULT_PRESET, name
        if isinstance(spec, str) and mode in ("", "pretrained", "random") and name in list_presets():
            return cls(preset=name, random=mode == "random")
        raise ValueError(f"encoders must be an EncoderSpec, 'pretrained', 'random', a preset name or "
                         f"'PRESET:random' (presets: {', '.join(list_presets())}), not {spec!r}")

    def describe(self) -> str:
        """One line for messages: 'clipclap-release (bgr frames)', with 'random-weight ' in front in random mode."""
        return f"{'random-weight ' if self.random else ''}{self.preset} ({self.frames} frames)"


def serving_problem(made_by: EncoderSpec | dict, serving: EncoderSpec | dict) -> str | None:
    """Can features made by encoders `made_by` be served by encoders `serving`? None if so, else why not.

    Both sides may be EncoderSpecs or stored `to_dict()` / pre-preset dicts. Allowed: random and real
    weights of the same preset (random mode is a test mode: the architectures, and so every size, are the
    same). Refused: another preset, another frame convention, or a preset whose stored spec differs from
    the one serving it (the registry changed since the features were made).
    """
    stored = made_by if isinstance(made_by, dict) else made_by.to_dict()
    try:
        a = EncoderSpec.from_dict(made_by) if isinstance(made_by, dict) else made_by
    except (ValueError, TypeError) as e:
        return f"the features' encoder record cannot be read ({e}): {stored!r}"
    b = EncoderSpec.from_dict(serving) if isinstance(serving, dict) else serving
    if a.preset != b.preset:
        return (f"these features were made by encoder preset {a.preset!r} ({a.spec.description}), but the encoders "
                f"in use are preset {b.preset!r} ({b.spec.description}); load encoders {a.preset!r} to serve them")
    if a.frames != b.frames:
        return (f"these features were made with {a.frames!r} frames (frame convention of preset {a.preset!r}), but the "
                f"encoders in use feed CLIP {b.frames!r} frames")
    if "preset_spec" in stored:  # the encoders themselves; descriptions and prompt sets do not move features
        old = {k: stored["preset_spec"].get(k) for k in _FEATURE_SPACE}
        new = {k: b.spec.to_dict()[k] for k in _FEATURE_SPACE}
        if old != new:
            return f"preset {a.preset!r} has changed since these features were made: {_differences(old, new)}"
    return None


def _differences(old: dict, new: dict, prefix: str = "") -> str:
    parts = []
    for key in sorted(set(old) | set(new)):
        o, n = old.get(key), new.get(key)
        if isinstance(o, dict) and isinstance(n, dict):
            inner = _differences(o, n, f"{prefix}{key}.")
            if inner:
                parts.append(inner)
        elif o != n:
            parts.append(f"{prefix}{key} was {o!r}, is {n!r}")
    return "; ".join(parts)
