"""The architecture configs of the model classes: plain data, importable without torch.

The catalog and the checks of a checkpoint's config.json read these before anything heavy is imported, so
that the app can list checkpoints while torch is still loading. Each model file uses its config as `Config`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClipClapConfig:
    d_model: int = 512  # width of O_enc / W_enc outputs
    d_hidden: int = 512  # hidden width of O_proj and D_o
    d_out: int = 64  # joint embedding size
    encoder_dropout: float = 0.1  # O_enc, W_enc
    decoder_dropout: float = 0.1  # O_proj, D_o
    additional_dropout: float = 0.1  # W_proj, D_w
    modality: str = "both"  # "both" | "audio" | "visual": which video features enter O_enc
    text: str = "both"  # "both" | "clip" | "clap": which text part enters W_enc (with modality "both")


@dataclass(frozen=True)
class AVCAConfig:
    d_hidden: int = 512  # hidden width of the encoders and projections
    d_feature: int = 300  # k_f: encoder output / attention width (word2vec size in the original)
    d_out: int = 64  # k_proj: joint embedding size
    attention_heads: int = 3
    attention_ff_hidden: int = 64
    encoder_dropout: float = 0.2  # r_enc (encoders, transformer, W_enc)
    projection_dropout: float = 0.3  # r_proj
    decoder_dropout: float = 0.5  # r_dec (W_proj, D, A_rec, V_rec)
    bn_momentum: float = 0.99  # m: momentum of the second BN of every two-layer block
    triplet_margin: float = 1.0
    bn_side_passes: bool = True  # replicate the reference's extra train-mode forwards (BN statistics only)


@dataclass(frozen=True)
class CoGeConfig:
    d_mask_hidden: int = 512  # hidden width of the mask generators ψ_V, ψ_A
    d_feature: int = 300  # attention width and size of c_v, c_a (paper: 300)
    d_hidden: int = 512  # hidden width of the embedding networks f_v, f_a, f_w
    d_out: int = 64  # common embedding space (paper: 64)
    attention_heads: int = 3  # 300 / 3 = 100 per head, as AVCA
    attention_ff_hidden: int = 64  # feed-forward width of the attention block, as AVCA
    dropout: float = 0.2  # projections, attention block and embedding networks
    temperature: float = 1.0  # τ of the score softmax (paper: 1)
    beta: float = 0.5  # weight of the visual branch in p (paper: 0.5)
    lambda_kd: float = 1.0  # λ1, mutual distillation (paper: 1)
    lambda_mask: float = 0.5  # λ2, mask loss (paper: 0.5)
    mask_fraction: float = 0.1  # p: proportion of masked elements (0.1 UCF/ActivityNet, 0.2 VGGSound)
    mask_reading: str = "drop"  # "drop": top-k |grad| dims are masked (p = 0: none); "keep": only they are kept
    mask_loss_norm: str = "l2"  # "l2": the paper's ‖m̃ − m‖; "rms": divided by √D (20-30× weaker at D = 512)

