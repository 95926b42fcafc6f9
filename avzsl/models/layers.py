"""Layers more than one model is built from, in one place (so no model imports another)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def fc_block(d_in: int, d_out: int, dropout: float, bn_momentum: float = 0.1) -> nn.Sequential:
    """Linear -> BatchNorm -> ReLU -> Dropout, the building block of ClipClap and AVCA (reference §5.1)."""
    return nn.Sequential(
        nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out, momentum=bn_momentum), nn.ReLU(), nn.Dropout(dropout)
    )


class PairAttention(nn.Module):
    """One pre-norm transformer block over the (audio, visual) token pair (reference §6.1)."""

    def __init__(self, dim: int, heads: int, ff_hidden: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm_attn = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, ff_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_hidden, dim), nn.Dropout(dropout)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, t, d = tokens.shape  # (B, 2, 300)
        q, k, v = self.qkv(self.norm_attn(tokens)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, heads, 2, 100), scale 1/sqrt(100)
        tokens = tokens + self.out(attended.transpose(1, 2).reshape(b, t, d))
        return tokens + self.ff(self.norm_ff(tokens))
