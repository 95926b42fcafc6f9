"""Where a data set's features came from: the one place a store's, a release's or a synthetic set's provenance
is made, and the only code that knows how it is written in `store.json` and in a checkpoint's `config.json`.

    >>> from avzsl.encoders.spec import EncoderSpec
    >>> p = Provenance(encoders=EncoderSpec("laion-clap"), prompt_set="free-text", synthetic=False,
    ...                source={"kind": "avzsl-store", "path": "stores/mine"})
    >>> p.encoders.preset, p.prompt_set, p.synthetic
    ('laion-clap', 'free-text', False)
    >>> Provenance.from_dict(p.to_dict()) == p
    True

The readers build it (data/store.py, data/release.py, data/synthetic.py, extraction/merge.py); training,
combining and evaluation read its attributes. The file shape is the one avzsl always wrote:
{"encoders": EncoderSpec dict, "prompt_templates": {"name", "clip", "clap"}, "synthetic", "source", ...};
older shapes of the encoder record ({"synthetic": true}, or avzsl 0.1's description of the release's
encoders) are read as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avzsl.data.errors import DataError
from avzsl.encoders.spec import EncoderSpec

# Keys of the file shape that are fields here; every other key is kept, unread, in `details`.
_FIELD_KEYS = ("encoders", "prompt_templates", "synthetic", "source")


@dataclass(frozen=True)
class Provenance:
    encoders: EncoderSpec | None  # what made the features; None: unknown (SYNTHETIC data made at some encoder's sizes)
    prompt_set: str | None  # prompt set the class texts were embedded with; None: unknown (e.g. a release)
    synthetic: bool  # generated data: rankings and scores mean nothing about real videos
    source: dict = field(default_factory=dict)  # how the data was read: {"kind": "avzsl-store", "path": ...}, ...
    # What else the reader recorded, kept as written and shown to people, never read by avzsl: the prompt
    # templates' texts ("prompt_templates" without "name"), "media", "split", "videos", "created", ...
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.details.items() if k != "prompt_templates"}
        templates = self.details.get("prompt_templates") or {}
        if self.prompt_set is not None or templates:
            d["prompt_templates"] = {"name": self.prompt_set, **templates}
        return {**d, "synthetic": self.synthetic, "encoders": self.encoders.to_dict() if self.encoders else None,
                "source": self.source}

    @classmethod
    def from_dict(cls, d: dict, dataset: str | None = None, where: str = "provenance") -> Provenance:
        """Read the file shape. dataset: the data set's name, which decides the frames of an avzsl 0.1
        release record."""
        if not isinstance(d, dict):
            raise DataError(f"{where} must be a JSON object, not {type(d).__name__}")
        templates = d.get("prompt_templates") or {}
        if not isinstance(templates, dict) or not isinstance(d.get("source", {}), dict):
            raise DataError(f"{where}: prompt_templates and source must be JSON objects")
        details = {k: v for k, v in d.items() if k not in _FIELD_KEYS}
        rest = {k: v for k, v in templates.items() if k != "name"}
        if rest:
            details["prompt_templates"] = rest
        try:
            encoders = read_encoder_record(d.get("encoders"), dataset)
        except (ValueError, TypeError) as e:
            raise DataError(f"{where}: the encoder record cannot be read: {e}") from None
        name = templates.get("name")
        return cls(encoders, None if name is None else str(name), bool(d.get("synthetic", False)),
                   dict(d.get("source") or {}), details)


def read_encoder_record(encoders: dict | None, dataset: str | None = None) -> EncoderSpec | None:
    """The EncoderSpec an "encoders" entry of a provenance (or a schema-1 checkpoint config) records.

    None when it records none: SYNTHETIC data ({"synthetic": true}), or a ClipClap release read by avzsl 0.1,
    which wrote a description of the release's encoders, now the preset clipclap-release with the data set's
    frames. Raises ValueError for a record that names no known preset.
    """
    if encoders is not None and not isinstance(encoders, dict):
        raise ValueError(f"an encoder record is a JSON object, not {type(encoders).__name__}")
    if not encoders or encoders.get("synthetic"):
        return None
    if "preset" in encoders or "clip_model" in encoders:  # an EncoderSpec, in its current or first shape
        return EncoderSpec.from_dict(encoders)
    if "WavCaps" in str(encoders.get("audio", "")):
        return release_encoders(dataset)
    return None


def release_encoders(dataset: str | None) -> EncoderSpec:
    """The encoders of the ClipClap release's features of `dataset`: its preset, with the frames it used."""
    from avzsl.encoders.presets import release_frames

    try:
        return EncoderSpec("clipclap-release", release_frames(dataset or ""))
    except ValueError:  # not one of the release's data sets: the preset's own convention
        return EncoderSpec("clipclap-release")
