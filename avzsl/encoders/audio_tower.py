"""What the two audio towers (laion_clap's HTS-AT + roberta, WavCaps' HTS-AT + BERT) share: the build from a
file or at random, the waveform checks and batches, padding and length-sorted text batches, the library
tokenizer truncated as each model's code truncates, and the file-less tokenizer of random mode."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avzsl.encoders.frontend import light_front_end
from avzsl.encoders.presets import AudioEncoder
from avzsl.encoders.state import fill_random, fit, load_state_dict, restore_position_buffers, seeded

logger = logging.getLogger(__name__)


def pad(ids: list[list[int]], length: int, pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token ids as the library tokenizers do -> input_ids, attention_mask, both (B, length)."""
    input_ids = torch.full((len(ids), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), length), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return input_ids.to(device), mask.to(device)


def by_length(ids: list[list[int]], dim: int, batch_size: int, pad_id: int, device: torch.device,
              forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """(P, dim) outputs of `forward(input_ids, mask)` on batches of similar length, each padded only to its
    longest prompt: padded positions are masked out of attention and positions count from the start, so
    the padding length does not change a prompt's output."""
    lengths = torch.tensor([len(i) for i in ids])
    out = torch.empty(len(ids), dim, device=device)
    for rows in torch.argsort(lengths).split(batch_size):
        out[rows] = forward(*pad([ids[r] for r in rows.tolist()], int(lengths[rows].max()), pad_id, device))
    return out


class AudioTower:
    """An audio tower of one preset: `embed_audio`, `encode_text` (the fast path) and `encode_text_reference`
    (the model's own padding: the baseline the fast path must match).

    A subclass defines `new_model(audio)` (the module tree, text transformer built with `state.empty`),
    `text_transformer(model)` (the BERT / roberta module, whose `embeddings` hold the position buffers files do
    not carry), `audio_forward(clips)` (checked float32 clips -> (B, D) unit rows), `text_forward(input_ids,
    mask)` ((B, L) padded tokens -> (B, D) unit rows; `reference_text_forward` is the same unless the model's
    code has its own), `library_tokenizer(files)` and `offline_tokenizer(audio)`.
    """

    name = ""  # as messages name the model: "CLAP", "WavCaps"
    layout = ""  # what a message adds about the checkpoint's keys
    pad_id = 0  # the text tokenizer's padding id
    stale_keys: tuple[str, ...] = ()  # buffers older libraries saved in checkpoints; newer ones compute them

    def __init__(self, model: nn.Module, audio: AudioEncoder, tokenizer, device: torch.device):
        self.model = model.eval()  # eval: BatchNorm's running statistics, no SpecAugment, no dropout
        self.audio = audio  # the preset's AudioEncoder: sample rate, window, mel settings, dim, text length
        self.tokenizer = tokenizer  # list[str] -> token-id lists with start ... end, at most text_max_tokens long
        self.device = device

    @classmethod
    def build(cls, audio: AudioEncoder, weights: Path | None, tokenizer_files: Sequence[Path] | None = None, *,
              seed: int, device: torch.device) -> AudioTower:
        """`weights` None -> random weights from `seed`; else a training checkpoint, loaded strictly (its
        optimizer state is never read). `tokenizer_files` None -> random mode's file-less tokenizer."""
        if weights is not None:
            logger.info("loading %s %s / %s from %s", cls.name, audio.model, audio.checkpoint, weights)
        state = None if weights is None else load_state_dict(weights, drop=cls.stale_keys)
        # The audio side is built with its own seeded initialisation (its front end is computed); the text
        # transformer, most of the parameters, is built empty and filled from the file or at random.
        with light_front_end(), seeded(seed):
            model = cls.new_model(audio)
        text = cls.text_transformer(model)
        if state is None:
            fill_random(text, seed)
        else:
            fit(model, state, weights, f"{cls.name} {audio.model}{cls.layout}")
        restore_position_buffers(text.embeddings)
        tokenizer = cls.offline_tokenizer(audio) if tokenizer_files is None else cls.file_tokenizer(tokenizer_files, audio)
        return cls(model.to(device), audio, tokenizer, device)

    @property
    def dim(self) -> int:
        return self.audio.dim

    def clips(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        """The (window_samples,) float32 clips of a batch, refused unless each is exactly one window."""
        samples = self.audio.window_samples
        if isinstance(waveforms, np.ndarray) and waveforms.ndim != 2:
            raise ValueError(f"waveforms must be a batch (N, {samples}), not shape {waveforms.shape}")
        clips = [np.asarray(w, dtype=np.float32) for w in waveforms]
        for w in clips:
            if w.shape != (samples,):
                raise ValueError(
                    f"{self.name} takes mono {self.audio.sample_rate // 1000} kHz clips of exactly {samples} samples "
                    f"({self.audio.window_seconds:g} s), not shape {w.shape}; avzsl.media crops or pads the audio window"
                )
        return clips

    @torch.inference_mode()
    def embed_audio(self, waveforms: np.ndarray | Sequence[np.ndarray], batch_size: int = 8) -> torch.Tensor:
        """(N, window_samples) float mono waveforms at the preset's rate -> (N, D) unit rows. Deterministic."""
        clips = self.clips(waveforms)
        out = [self.audio_forward(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]
        return torch.cat(out) if out else torch.empty(0, self.dim)

    @torch.inference_mode()
    def encode_text(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """(P, D) unit prompt embeddings, each batch padded only to its longest prompt (`by_length`)."""
        return by_length(self.tokenizer(list(prompts)), self.dim, batch_size, self.pad_id, self.device, self.text_forward)

    @torch.inference_mode()
    def encode_text_reference(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Every prompt padded to the full text_max_tokens, in the given order: the model code's own way."""
        ids = self.tokenizer(list(prompts))
        out = [self.reference_text_forward(*pad(ids[i : i + batch_size], self.audio.text_max_tokens, self.pad_id, self.device))
               for i in range(0, len(ids), batch_size)]
        return torch.cat(out) if out else torch.empty(0, self.dim)

    def reference_text_forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_forward(input_ids, mask)

    @classmethod
    def file_tokenizer(cls, files: Sequence[Path], audio: AudioEncoder) -> Callable[[list[str]], list[list[int]]]:
        """The transformers tokenizer the model's own code uses (`library_tokenizer`), truncating at text_max_tokens."""
        tokenizer = cls.library_tokenizer(files)
        return lambda prompts: tokenizer(prompts, truncation=True, max_length=audio.text_max_tokens)["input_ids"]


class HashTokenizer:
    """Random mode only: a tokenizer that needs no files, and whose ids mean nothing.

    Text is split the way the real tokenizer pre-tokenises it (`pre_tokenizer`, from the tokenizers
    library), and each piece is hashed to an id in [first_id, vocab_size), with the start and end ids
    around. Common words are single tokens in the real vocabularies, so sequence lengths, and therefore
    speed, match real tokenisation; a per-byte tokenizer would make prompts 3-5x longer.
    """

    def __init__(self, pre_tokenizer, *, first_id: int, vocab_size: int, start: int, end: int, max_tokens: int,
                 lower: bool = False):
        self._split = pre_tokenizer
        self.first_id, self.span = first_id, vocab_size - first_id
        self.start, self.end, self.max_tokens, self.lower = start, end, max_tokens, lower

    def __call__(self, prompts: list[str]) -> list[list[int]]:
        out = []
        for prompt in prompts:
            pieces = self._split.pre_tokenize_str(prompt.lower() if self.lower else prompt)
            ids = [self.first_id + zlib.crc32(piece.encode()) % self.span for piece, _ in pieces]
            out.append([self.start] + ids[: self.max_tokens - 2] + [self.end])
        return out
