"""AVCA: cross-modal attention and language for audio-visual GZSL (Mercea et al., CVPR 2022).

Reference §6, in the CLIP/CLAP form the ClipClap paper re-ran (§6.5): a text encoder W_enc maps the
concatenated CLIP|CLAP class text to 300-d (the size of AVCA's word2vec), in front of the original network.

    φ_a = A_enc(a), φ_v = V_enc(v)                       (B, 300) each
    T   = transformer([φ_a + e_0, φ_v + e_1])            (B, 2, 300), one pre-norm block over the pair
    θ_a = A_proj(φ_a + T[:, 0]), θ_v = V_proj(φ_v + T[:, 1])   (B, 64)
    w   = W_enc(text)  (B, 300);  θ_w = W_proj(w)  (B, 64);  ρ_m = D(θ_m)  (B, 300)

At test time only θ_v (which has attended to the audio) is compared with θ_w.

Choices where the reference is silent or odd, kept faithful unless said:
- φ enters the projections twice (once through the transformer's residual path), as in the reference.
- The modality embedding e (2, 300) is frozen at its random initialisation, as in the reference (it is
  not in the optimiser there); it is a non-trainable parameter so it is saved with the weights.
- W_enc is one FC block 1536 -> 300 (its dropout is r_enc): that is what gives the paper's ~2.4M
  parameters. The reconstruction target of l_rec is the 300-d encoding w, since the raw text has another size.
- BatchNorm side passes (`bn_side_passes`, on by default; issue 11). The reference runs train-mode forwards
  whose outputs no loss uses: D(θ_w⁻) next to the other decoder calls, the projections of the
  reconstructions (A_proj(A_rec(θ_a)), V_proj(V_rec(θ_v))), and, after each optimiser step, the embeddings
  of the positive batch (`after_step`). Their only effect is on BatchNorm running statistics (and the
  dropout random stream), but with momentum m = 0.99 a BN's running statistics are in effect those of its
  *last* train-mode call, so these passes decide the statistics used at evaluation: without them
  V_proj's come from the negative batch before the step, with them from the positive batch after it.
  They run without gradient. Their order inside a step is not documented; the one here (positive
  a, v, w, then negatives, then the reconstructions' projections) is inferred.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avzsl.models.base import Batch, GZSLModel, InputDims
from avzsl.models.architectures import AVCAConfig
from avzsl.models.layers import PairAttention, fc_block


def two_layer(d_in: int, d_hidden: int, d_out: int, dropout: float, bn_momentum: float) -> nn.Sequential:
    return nn.Sequential(fc_block(d_in, d_hidden, dropout), fc_block(d_hidden, d_out, dropout, bn_momentum))


class AVCA(GZSLModel):
    name = "avca"
    Config = AVCAConfig
    needs_negatives = True

    def __init__(self, config: AVCAConfig, dims: InputDims):
        super().__init__()
        self.config, self.dims = config, dims
        c = config
        self.A_enc = two_layer(dims.audio, c.d_hidden, c.d_feature, c.encoder_dropout, c.bn_momentum)
        self.V_enc = two_layer(dims.visual, c.d_hidden, c.d_feature, c.encoder_dropout, c.bn_momentum)
        self.W_enc = fc_block(dims.text, c.d_feature, c.encoder_dropout)
        self.modality_embedding = nn.Parameter(torch.randn(2, c.d_feature), requires_grad=False)
        self.attention = PairAttention(c.d_feature, c.attention_heads, c.attention_ff_hidden, c.encoder_dropout)
        self.A_proj = two_layer(c.d_feature, c.d_hidden, c.d_out, c.projection_dropout, c.bn_momentum)
        self.V_proj = two_layer(c.d_feature, c.d_hidden, c.d_out, c.projection_dropout, c.bn_momentum)
        self.W_proj = fc_block(c.d_feature, c.d_out, c.decoder_dropout)
        self.D = fc_block(c.d_out, c.d_feature, c.decoder_dropout)
        self.A_rec = fc_block(c.d_out, c.d_feature, c.decoder_dropout)
        self.V_rec = fc_block(c.d_out, c.d_feature, c.decoder_dropout)

    def _encode_video(self, audio, visual):
        phi_a, phi_v = self.A_enc(audio), self.V_enc(visual)  # (B, 300) each
        tokens = torch.stack([phi_a, phi_v], dim=1) + self.modality_embedding  # (B, 2, 300)
        attended = self.attention(tokens)
        theta_a = self.A_proj(phi_a + attended[:, 0])  # (B, 64)
        theta_v = self.V_proj(phi_v + attended[:, 1])  # (B, 64)
        return phi_a, phi_v, theta_a, theta_v

    def embed_samples(self, audio, visual):
        return self._encode_video(audio, visual)[3]  # θ_v: the test-time output (§6.3)

    def embed_text(self, text):
        return self.W_proj(self.W_enc(text))  # (K, 64)

    @torch.no_grad()
    def after_step(self, batch: Batch) -> None:
        """The reference's post-step train-mode embedding of the positive batch (BN statistics only)."""
        if self.config.bn_side_passes and self.training:
            self._encode_video(batch.audio, batch.visual)
            self.embed_text(batch.text)

    def training_losses(self, batch: Batch, class_text: torch.Tensor) -> dict[str, torch.Tensor]:
        triplet = nn.TripletMarginLoss(margin=self.config.triplet_margin)
        mse = F.mse_loss
        phi_a, phi_v, theta_a, theta_v = self._encode_video(batch.audio, batch.visual)
        _, _, neg_theta_a, neg_theta_v = self._encode_video(batch.neg_audio, batch.neg_visual)
        w = self.W_enc(batch.text)  # (B, 300)
        theta_w = self.W_proj(w)
        neg_theta_w = self.embed_text(batch.neg_text)
        rho_a, rho_v, rho_w = self.D(theta_a), self.D(theta_v), self.D(theta_w)
        neg_rho_a, neg_rho_v = self.D(neg_theta_a), self.D(neg_theta_v)

        l_t = (triplet(theta_a, theta_w, neg_theta_a) + triplet(theta_v, theta_w, neg_theta_v)
               + triplet(theta_w, theta_a, neg_theta_w) + triplet(theta_w, theta_v, neg_theta_w))
        l_rec = mse(rho_v, w) + mse(rho_a, w) + mse(rho_w, w)
        l_ct = triplet(rho_w, rho_a, neg_rho_a) + triplet(rho_w, rho_v, neg_rho_v)
        l_w = (triplet(theta_w, theta_a, neg_theta_a) + triplet(theta_w, theta_v, neg_theta_v)
               + triplet(theta_a, theta_w, neg_theta_w) + triplet(theta_v, theta_w, neg_theta_w))
        l_r = (mse(self.V_rec(theta_v), phi_v) + mse(self.A_rec(theta_a), phi_a)
               + mse(theta_v, theta_w) + mse(theta_a, theta_w))
        total = l_rec + l_ct + l_w + l_t + l_r
        if self.config.bn_side_passes:
            with torch.no_grad():  # outputs unused: BatchNorm running statistics only (module docstring)
                self.D(neg_theta_w)
                self.A_proj(self.A_rec(theta_a))
                self.V_proj(self.V_rec(theta_v))
        return {"loss": total, "triplet": l_t, "rec": l_rec, "cross_triplet": l_ct, "text_triplet": l_w, "reg": l_r}
