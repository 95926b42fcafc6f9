"""Feature sizes and the label-text layout: the one place that knows a text vector is [CLIP text | CLAP text].

A class (or typed label) has one text vector per encoder: CLIP's text tower (it lives in CLIP's image
space) and the audio encoder's (CLAP or WavCaps, in its audio space). Every data set, checkpoint and
prediction joins them in one order, CLIP first:

    >>> dims = InputDims(audio=1024, visual=512, text_parts=text_parts(512, 1024))
    >>> dims.text_parts, dims.text, dims.text_slice("clap")
    ((('clip', 512), ('clap', 1024)), 1536, slice(512, 1536, None))

Kept free of torch so that readers of stored features and checkpoint configs stay cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP, CLAP = "clip", "clap"  # names of the two text parts, in the order they are joined
TEXT_PART_OF_SPACE = {"visual": CLIP, "audio": CLAP}  # the input space each text part lives in


def text_parts(clip_dim: int, clap_dim: int) -> tuple[tuple[str, int], ...]:
    """The [CLIP | CLAP] layout of a joined text vector with these part sizes."""
    return ((CLIP, int(clip_dim)), (CLAP, int(clap_dim)))


def join_text(clip: np.ndarray, clap: np.ndarray) -> np.ndarray:
    """(K, D_clip), (K, D_clap) -> (K, D_clip + D_clap) float32 rows laid out as `text_parts`."""
    return np.concatenate([clip, clap], axis=1).astype(np.float32, copy=False)


def text_columns(parts, part: str) -> slice | None:
    """Columns of a joined text vector holding `part`, from a [(name, dim), ...] layout; None without it."""
    start = 0
    for name, dim in parts or ():
        if name == part:
            return slice(start, start + int(dim))
        start += int(dim)
    return None


@dataclass(frozen=True)
class InputDims:
    """Feature sizes a model is built for; they come from the data, never from a constant."""

    audio: int
    visual: int
    text_parts: tuple[tuple[str, int], ...]  # e.g. (("clip", 512), ("clap", 512)); text = their concatenation

    @property
    def text(self) -> int:
        return sum(d for _, d in self.text_parts)

    def text_slice(self, part: str) -> slice:
        columns = text_columns(self.text_parts, part)
        if columns is None:
            raise KeyError(f"text has no part {part!r}; parts are {[n for n, _ in self.text_parts]}")
        return columns

    def text_in_space(self, text: np.ndarray | None, space: str, dim: int) -> np.ndarray | None:
        """The part of (L, D_t) joined text vectors that lives in input space `space` ("visual" / "audio") of
        size `dim`, or None: CLIP text sits in CLIP's image space and CLAP text in CLAP's audio space (they
        were trained together); when the sizes differ the text is from other encoders."""
        if text is None or space not in TEXT_PART_OF_SPACE:
            return None
        cols = text_columns(self.text_parts, TEXT_PART_OF_SPACE[space])
        if cols is None or cols.stop - cols.start != dim or cols.stop > text.shape[1]:
            return None
        return text[:, cols]

    def describe(self) -> str:
        return f"audio {self.audio}-d, visual {self.visual}-d, text {[list(p) for p in self.text_parts]}"

    def to_dict(self) -> dict:
        return {"audio": self.audio, "visual": self.visual, "text_parts": [list(p) for p in self.text_parts]}

    @classmethod
    def from_dict(cls, d: dict) -> InputDims:
        return cls(int(d["audio"]), int(d["visual"]), tuple((str(n), int(k)) for n, k in d["text_parts"]))
