"""CoGe: "Coordinate and Generalize" audio-visual GZSL with learned feature masks (reference §10).

No code was released; this follows the paper's description, on CLIP/CLAP features.

    m_v = ψ_V(v), m_a = ψ_A(a)                           (B, D_v), (B, D_a) masks in [0, 1]
    [c_a, c_v] = attention([P_a(a ⊙ m_a), P_v(v ⊙ m_v)])  (B, 300) each; P_* project to 300
    e_v = f_v(c_v), e_a = f_a(c_a), e_w = f_w(w)         (B, 64), (B, 64), (K, 64)
    p_v = softmax(e_v · e_wᵀ / τ), p_a likewise         (B, K)
    p   = β p_v + (1 − β) p_a

    L = L_CLS + λ1 L_KD + λ2 L_M
    L_CLS = Σ_classes BCE(p, one-hot)                     mean over the batch
    L_KD  = ½ (KL(p_v ‖ p_a) + KL(p_a ‖ p_v))              mutual distillation of the two branches
    L_M   = ‖m̃_v − m_v‖ + ‖m̃_a − m_a‖                     m̃ from the top-k of |∂L_CLS/∂input|

Prediction is the class of largest p. `class_distances` returns −log p, so the protocol's calibrated
stacking (+γ on seen columns) divides the seen classes' p by e^γ: a multiplicative penalty that acts at
every confidence level, where an additive one on p itself would vanish next to saturated probabilities
(argmin −log p = argmax p, so uncalibrated predictions are exactly the paper's).

Readings of the paper (issue 11), each selectable, the default first:
- "Proportion of masked elements" p (0.1 UCF/ActivityNet, 0.2 VGGSound): `mask_reading="drop"` reads it
  literally, the k = round(p · D) dimensions of largest |gradient| are *masked* (m̃ = 0 there, 1
  elsewhere), so the network is pushed off the few dimensions it leans on hardest and p = 0 means no
  masking, where the paper's sweep starts. `"keep"` is the earlier reading, m̃ = 1 on the top k only,
  under which p = 0 would mask everything (and is refused).
- L_M strength: `mask_loss_norm="l2"` is the paper's per-sample L2 norm, averaged over the batch, so
  λ2 = 0.5 weighs it as the paper does. `"rms"` divides by √D (the earlier choice), which at D = 512-1024
  made L_M 20-30× weaker than the paper's.
- ZSL scores: the softmaxes of p_v and p_a are taken over the unseen classes only. The protocol asks
  every model for its distances to the unseen classes alone when it scores ZSL
  (`avzsl.training.protocol.evaluate`); for CoGe that is what renormalises both branches over the unseen
  classes before they are mixed (taking seen columns out of an all-class p would keep the seen classes'
  share in each branch's normaliser, and change the β-mix).

Choices where the paper is silent:
- Pseudo-mask gradient: taken w.r.t. the raw (unmasked) inputs a and v, through the whole graph (the
  feature path and the mask generators), as the paper writes "gradient w.r.t. v". Dimensions are ranked
  by gradient magnitude (a saliency: how strongly the loss depends on the dimension, either way), top-k
  per sample, k = round(mask_fraction · D). m̃ is a constant target (no gradient flows through top-k).
- That gradient comes from `torch.autograd.grad`, which returns it without accumulating anything into
  parameter `.grad`s; parameters get their gradient once, from the caller's `loss.backward()`.
- Masks themselves are not renormalised.
- L_KD lets gradients flow into both branches (the formula as written), not the detached-teacher form.
- L_CLS is computed in log space, log(1 − p) included (`log1m_softmax`): the naive 1 − p rounds to 0 for a
  confidently wrong class, BCE's gradient p / (p(1 − p)) then reaches 1e12 and training diverged on
  synthetic data. Values are unchanged wherever the naive formula is accurate.
- Scores are plain dot products of the 64-d embeddings with τ = 1 (cosines would confine logits to
  [−1, 1] and make p nearly uniform at τ = 1). The logits therefore grow during training, so −log p
  spans tens of nats and the recipe's γ grid is linspace(0, 50, 201) (step 0.25 nats).
- Schedule (recipe): Adam lr 1e-3, batch 256 (paper), 30 epochs of 100 batches. At lr 1e-3 validation HM
  on UCF-sized synthetic data peaks within the first 100-300 steps and then falls until ReduceLROnPlateau
  lowers the rate; 100-batch epochs put checkpoints and LR drops 5× closer than AVCA's 500 and the 3000
  steps (768k samples, twice ClipClap's budget) leave room for real data that learns more slowly.
- Sizes: mask generators Linear-ReLU-Linear-sigmoid with 512 hidden units; P_* one FC block; the
  attention is AVCA's pre-norm block (3 heads, feed-forward 64); f_* are an FC block of 512 then a
  linear layer to 64 (no final ReLU, so logits can be negative). Class prototypes pass f_w in training
  mode over the K training classes, as in ClipClap.
- Embedding map: `embed_samples` = β e_v + (1 − β) e_a, `embed_text` = e_w; their dot product is the β-mix
  of the two branches' logits, the closest single-point stand-in for p.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avzsl.models.base import Batch, GZSLModel, InputDims, JointScores
from avzsl.models.architectures import CoGeConfig
from avzsl.models.layers import PairAttention, fc_block


def pseudo_mask(grad: torch.Tensor, fraction: float, reading: str = "keep") -> torch.Tensor:
    """(B, D) gradient -> (B, D) {0, 1} mask over each row's k largest |grad|, k = round(fraction · D).

    "keep": ones on those k (at least one); "drop": zeros on those k, ones elsewhere (k may be 0).
    """
    keep = reading == "keep"
    top = grad.abs().topk(max(int(keep), round(fraction * grad.shape[1])), dim=1).indices  # (B, k)
    return torch.full_like(grad, float(not keep)).scatter_(1, top, float(keep))


def log1m_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log(1 − softmax(logits)) along dim 1, (B, K), without the cancellation of 1 − p when p → 1.

    Only a row's largest entry can exceed ½; for it, 1 − p_top = Σ_{j≠top} p_j is computed in log space.
    """
    log_p = F.log_softmax(logits, dim=1)
    top = logits.argmax(dim=1, keepdim=True)  # (B, 1)
    is_top = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, top, True)
    log_rest = logits.masked_fill(is_top, float("-inf")).logsumexp(dim=1, keepdim=True)  # log Σ_{j≠top} e^z_j
    others = log_rest - logits.logsumexp(dim=1, keepdim=True)  # (B, 1) log(1 − p_top)
    # The clamp keeps log1p finite (and its gradient zero) on the top entry, which `others` replaces.
    return torch.where(is_top, others, torch.log1p(-log_p.exp().clamp(max=0.5)))


def mask_generator(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim), nn.Sigmoid())


def embedding_net(d_in: int, d_hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(fc_block(d_in, d_hidden, dropout), nn.Linear(d_hidden, d_out))


class CoGe(GZSLModel):
    name = "coge"
    Config = CoGeConfig
    branches = ("audio", "visual")

    def __init__(self, config: CoGeConfig, dims: InputDims):
        super().__init__()
        lowest = 0.0 if config.mask_reading == "drop" else 1e-12  # "keep" with p = 0 would mask everything
        if (not lowest <= config.mask_fraction <= 1.0 or not 0.0 <= config.beta <= 1.0 or config.temperature <= 0
                or config.mask_reading not in ("drop", "keep") or config.mask_loss_norm not in ("l2", "rms")):
            raise ValueError(f"invalid CoGe config {config}")
        self.config, self.dims = config, dims
        c = config
        self.psi_v = mask_generator(dims.visual, c.d_mask_hidden)
        self.psi_a = mask_generator(dims.audio, c.d_mask_hidden)
        self.proj_v = fc_block(dims.visual, c.d_feature, c.dropout)
        self.proj_a = fc_block(dims.audio, c.d_feature, c.dropout)
        self.attention = PairAttention(c.d_feature, c.attention_heads, c.attention_ff_hidden, c.dropout)
        self.f_v = embedding_net(c.d_feature, c.d_hidden, c.d_out, c.dropout)
        self.f_a = embedding_net(c.d_feature, c.d_hidden, c.d_out, c.dropout)
        self.f_w = embedding_net(dims.text, c.d_hidden, c.d_out, c.dropout)

    def _embed_video(self, audio, visual):
        """Masks and branch embeddings: m_a (B, D_a), m_v (B, D_v), e_a (B, 64), e_v (B, 64)."""
        m_a, m_v = self.psi_a(audio), self.psi_v(visual)
        tokens = torch.stack([self.proj_a(audio * m_a), self.proj_v(visual * m_v)], dim=1)  # (B, 2, 300)
        fused = self.attention(tokens)
        return m_a, m_v, self.f_a(fused[:, 0]), self.f_v(fused[:, 1])

    def _log_probs(self, e_a, e_v, e_w):
        """Logits z_a, z_v and log p over the K classes of e_w, each (B, K)."""
        z_a = e_a @ e_w.T / self.config.temperature
        z_v = e_v @ e_w.T / self.config.temperature
        return z_a, z_v, self._log_mix(F.log_softmax(z_v, dim=1), F.log_softmax(z_a, dim=1))

    def _log_mix(self, log_v, log_a):
        """log(β e^log_v + (1 − β) e^log_a) without leaving log space; log 0 = −inf is fine for β ∈ {0, 1}."""
        beta = torch.tensor(self.config.beta, device=log_v.device)
        return torch.logaddexp(log_v + beta.log(), log_a + (1 - beta).log())

    def embed_samples(self, audio, visual):
        _, _, e_a, e_v = self._embed_video(audio, visual)
        return self.config.beta * e_v + (1 - self.config.beta) * e_a  # (N, 64)

    def embed_text(self, text):
        return self.f_w(text)  # (K, 64)

    def joint_scores(self, audio, visual, text):
        """Distances are −log p (p: the β-mix of the branches' softmaxes over the classes of `text`)."""
        _, _, e_a, e_v = self._embed_video(audio, visual)
        e_w = self.embed_text(text)  # (K, 64)
        samples = self.config.beta * e_v + (1 - self.config.beta) * e_a  # (N, 64), as embed_samples
        return JointScores(-self._log_probs(e_a, e_v, e_w)[2], samples, e_w)  # (N, K) = −log p

    def distances_to_sets(self, audio, visual, texts):
        """−log p over each class set of `texts` (the softmaxes normalise over that set's classes alone)."""
        _, _, e_a, e_v = self._embed_video(audio, visual)
        return [-self._log_probs(e_a, e_v, self.embed_text(text))[2] for text in texts]

    def branch_distances(self, audio, visual, text):
        """−log p_a and −log p_v, each branch's own softmax (N, K): what the β-mix is made of."""
        _, _, e_a, e_v = self._embed_video(audio, visual)
        z_a, z_v, _ = self._log_probs(e_a, e_v, self.embed_text(text))
        return {"audio": -F.log_softmax(z_a, dim=1), "visual": -F.log_softmax(z_v, dim=1)}

    def mask_loss(self, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """‖m̃ − m‖ per sample (B, D) -> mean over the batch; divided by √D for mask_loss_norm "rms"."""
        loss = torch.linalg.vector_norm(target - mask, dim=1).mean()
        return loss / mask.shape[1] ** 0.5 if self.config.mask_loss_norm == "rms" else loss

    def training_losses(self, batch: Batch, class_text: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        # Fresh leaves that require grad, so L_CLS can be differentiated w.r.t. the inputs; the caller's
        # tensors are left untouched.
        audio = batch.audio.detach().requires_grad_(True)  # (B, D_a)
        visual = batch.visual.detach().requires_grad_(True)  # (B, D_v)
        m_a, m_v, e_a, e_v = self._embed_video(audio, visual)
        z_a, z_v, log_p = self._log_probs(e_a, e_v, self.embed_text(class_text))  # (B, K)
        log_p_a, log_p_v = F.log_softmax(z_a, dim=1), F.log_softmax(z_v, dim=1)

        # BCE in log space (module docstring): 1 − p = β(1 − p_v) + (1 − β)(1 − p_a).
        log_1m_p = self._log_mix(log1m_softmax(z_v), log1m_softmax(z_a))
        positive = F.one_hot(batch.target, log_p.shape[1]).bool()
        l_cls = -torch.where(positive, log_p, log_1m_p).sum(dim=1).mean()
        l_kd = 0.5 * (F.kl_div(log_p_a, log_p_v, log_target=True, reduction="batchmean")  # KL(p_v ‖ p_a)
                      + F.kl_div(log_p_v, log_p_a, log_target=True, reduction="batchmean"))  # KL(p_a ‖ p_v)

        # Pseudo-masks: input dimensions L_CLS is most sensitive to. retain_graph keeps the graph for the
        # caller's backward of the total loss.
        grad_a, grad_v = torch.autograd.grad(l_cls, [audio, visual], retain_graph=True)
        target_a = pseudo_mask(grad_a, c.mask_fraction, c.mask_reading)  # (B, D_a)
        target_v = pseudo_mask(grad_v, c.mask_fraction, c.mask_reading)  # (B, D_v)
        l_mask = self.mask_loss(target_v, m_v) + self.mask_loss(target_a, m_a)

        total = l_cls + c.lambda_kd * l_kd + c.lambda_mask * l_mask
        return {"loss": total, "cls": l_cls, "kd": l_kd, "mask": l_mask}
