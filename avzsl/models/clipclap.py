"""ClipClap: audio-visual GZSL on CLIP/CLAP features (Kurzendörfer et al., CVPRW 2024).

Reference §5. Every sub-network is a stack of FC blocks (Linear -> BN -> ReLU -> Dropout), the last block
included, so the 64-d embeddings are non-negative. Visual features come first in the input concatenation,
the CLIP part first in the text.

    o  = O_enc([v, a])   (B, 512)      w' = W_enc(w)      (B, 512)
    θ_o = O_proj(o)      (B, 64)       θ_w = W_proj(w')   (B, 64)
    ρ_o = D_o(θ_o)       (B, 512)      ρ_w = D_w(θ_w)     (B, 512)

Loss = CE(θ_o · W_proj(W_enc(class texts))ᵀ) + MSE(θ_o, θ_w) + MSE(ρ_o, w') + MSE(ρ_w, w').
The reference runs an extra train-mode forward after each step whose output only feeds logging; it is
skipped here (it only nudges BatchNorm running statistics, reference §5.6).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avzsl.models.base import Batch, GZSLModel, InputDims
from avzsl.models.architectures import ClipClapConfig
from avzsl.models.layers import fc_block


class ClipClap(GZSLModel):
    name = "clipclap"
    Config = ClipClapConfig

    def __init__(self, config: ClipClapConfig, dims: InputDims):
        super().__init__()
        if config.modality not in ("both", "audio", "visual") or config.text not in ("both", "clip", "clap"):
            raise ValueError(f"unknown modality/text setting in {config}")
        self.config, self.dims = config, dims
        # The paper's ablations: one modality goes with the text part of its own encoder.
        text_part = {"audio": "clap", "visual": "clip"}.get(config.modality, config.text)
        self.text_slice = slice(0, dims.text) if text_part == "both" else dims.text_slice(text_part)
        d_video = {"both": dims.visual + dims.audio, "audio": dims.audio, "visual": dims.visual}[config.modality]
        d_text = self.text_slice.stop - self.text_slice.start
        c = config
        self.O_enc = fc_block(d_video, c.d_model, c.encoder_dropout)
        self.W_enc = fc_block(d_text, c.d_model, c.encoder_dropout)
        self.O_proj = nn.Sequential(fc_block(c.d_model, c.d_hidden, c.decoder_dropout), fc_block(c.d_hidden, c.d_out, c.decoder_dropout))
        self.D_o = nn.Sequential(fc_block(c.d_out, c.d_hidden, c.decoder_dropout), fc_block(c.d_hidden, c.d_model, c.decoder_dropout))
        self.W_proj = fc_block(c.d_model, c.d_out, c.additional_dropout)
        self.D_w = fc_block(c.d_out, c.d_model, c.additional_dropout)

    def _video_input(self, audio, visual):
        if self.config.modality == "audio":
            return audio
        if self.config.modality == "visual":
            return visual
        return torch.cat([visual, audio], dim=1)  # (B, D_v + D_a)

    def embed_samples(self, audio, visual):
        return self.O_proj(self.O_enc(self._video_input(audio, visual)))  # (N, 64)

    def embed_text(self, text):
        return self.W_proj(self.W_enc(text[:, self.text_slice]))  # (K, 64)

    def training_losses(self, batch: Batch, class_text: torch.Tensor) -> dict[str, torch.Tensor]:
        theta_o = self.embed_samples(batch.audio, batch.visual)  # (B, 64)
        rho_o = self.D_o(theta_o)  # (B, 512)
        # W_enc's Linear once per class (K, 512), then its rows for the batch (batch.text is class_text[target]); with
        # index_select, whose backward adds rows in a fixed order ([target]'s varies run to run with 2 threads).
        linear, after_linear = self.W_enc[0], self.W_enc[1:]
        class_linear = linear(class_text[:, self.text_slice])  # (K, 512)
        w_enc = after_linear(class_linear.index_select(0, batch.target))  # (B, 512), also the reconstruction target
        theta_w = self.W_proj(w_enc)  # (B, 64)
        rho_w = self.D_w(theta_w)  # (B, 512)
        # Class prototypes in training mode: BatchNorm normalises over the K training classes (§5.3).
        prototypes = self.W_proj(after_linear(class_linear))  # (K, 64)
        ce = F.cross_entropy(theta_o @ prototypes.T, batch.target)  # plain dot-product logits (B, K)
        reg = F.mse_loss(theta_o, theta_w)
        rec = F.mse_loss(rho_o, w_enc) + F.mse_loss(rho_w, w_enc)
        return {"loss": ce + reg + rec, "ce": ce, "reg": reg, "rec": rec}
