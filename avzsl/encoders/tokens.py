"""What the two audio-text towers (laion_clap's roberta, WavCaps' BERT) share: padding, length-sorted batches,
and the file-less tokenizer of random mode."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import torch


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
