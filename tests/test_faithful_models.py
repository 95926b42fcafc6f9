"""Model-level faithfulness: loss values equal the formulas, audio and visual enter where they should, CoGe's
ZSL scores, AVCA's BatchNorm side passes. Tiny sizes, CPU, milliseconds each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avzsl.data.features import Features, StageData
from avzsl.models.avca import AVCA, AVCAConfig
from avzsl.models.base import Batch, GZSLModel
from avzsl.models.clipclap import ClipClap
from avzsl.models.coge import CoGe, pseudo_mask
from avzsl.models.registry import create_model, list_models
from avzsl.training.protocol import evaluate
from tests.helpers import DIMS, TINY

MODELS = {"clipclap": ClipClap, "avca": AVCA, "coge": CoGe}


def tiny_batch(n=12, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    class_text = F.normalize(torch.randn(k, DIMS.text, generator=g), dim=1)
    target = torch.arange(n) % k
    neg_target = (target + 1) % k
    return Batch(torch.randn(n, DIMS.audio, generator=g), torch.randn(n, DIMS.visual, generator=g),
                 class_text[target], target, torch.randn(n, DIMS.audio, generator=g),
                 torch.randn(n, DIMS.visual, generator=g), class_text[neg_target]), class_text


def build(name, **changes):
    torch.manual_seed(0)
    return MODELS[name](dataclasses.replace(TINY[name], **changes), DIMS)


# --- loss values equal the formulas, computed here by hand -------------------------------------------------

def mse(x, y):
    return ((x - y) ** 2).sum() / x.numel()  # PyTorch MSELoss: mean over all elements


def cross_entropy(logits, target):
    log_z = torch.log(torch.exp(logits).sum(dim=1))  # (B,)
    return (log_z - logits[torch.arange(len(target)), target]).mean()


def triplet(anchor, positive, negative, margin=1.0):
    # TripletMarginLoss: L2 distances with PyTorch's eps 1e-6 added to the difference, hinge, batch mean.
    d_pos = torch.sqrt(((anchor - positive + 1e-6) ** 2).sum(dim=1))
    d_neg = torch.sqrt(((anchor - negative + 1e-6) ** 2).sum(dim=1))
    return torch.clamp(d_pos - d_neg + margin, min=0).mean()


def test_clipclap_loss_is_ce_plus_reg_plus_rec_by_hand():
    model = build("clipclap").train()  # dropout 0: train mode is deterministic, BN uses batch statistics
    batch, class_text = tiny_batch()
    losses = model.training_losses(batch, class_text)
    with torch.no_grad():
        theta_o = model.O_proj(model.O_enc(torch.cat([batch.visual, batch.audio], dim=1)))  # (B, 6), visual first
        w_enc = model.W_enc(batch.text)  # (B, 20)
        theta_w = model.W_proj(w_enc)
        prototypes = model.W_proj(model.W_enc(class_text))  # (K, 6), BN over the K classes
        ce = cross_entropy(theta_o @ prototypes.T, batch.target)
        reg = mse(theta_o, theta_w)
        rec = mse(model.D_o(theta_o), w_enc) + mse(model.D_w(theta_w), w_enc)
    for key, value in {"ce": ce, "reg": reg, "rec": rec, "loss": ce + reg + rec}.items():
        torch.testing.assert_close(losses[key].detach(), value, rtol=1e-5, atol=1e-6, msg=key)
    assert ce > 0.1 * losses["loss"]  # the cross-entropy term is a real part of the total, not a rounding


@pytest.mark.parametrize("side_passes", [True, False])
def test_avca_loss_is_the_sum_of_the_papers_five_terms_by_hand(side_passes):
    model = build("avca", bn_side_passes=side_passes).train()
    batch, class_text = tiny_batch()
    losses = model.training_losses(batch, class_text)
    with torch.no_grad():
        def video(a, v):
            pa, pv = model.A_enc(a), model.V_enc(v)
            t = model.attention(torch.stack([pa, pv], 1) + model.modality_embedding)
            return pa, pv, model.A_proj(pa + t[:, 0]), model.V_proj(pv + t[:, 1])

        pa, pv, ta, tv = video(batch.audio, batch.visual)
        _, _, nta, ntv = video(batch.neg_audio, batch.neg_visual)
        w = model.W_enc(batch.text)
        tw, ntw = model.W_proj(w), model.W_proj(model.W_enc(batch.neg_text))
        D = model.D
        l_t = triplet(ta, tw, nta) + triplet(tv, tw, ntv) + triplet(tw, ta, ntw) + triplet(tw, tv, ntw)
        l_rec = mse(D(tv), w) + mse(D(ta), w) + mse(D(tw), w)
        l_ct = triplet(D(tw), D(ta), D(nta)) + triplet(D(tw), D(tv), D(ntv))
        l_w = triplet(tw, ta, nta) + triplet(tw, tv, ntv) + triplet(ta, tw, ntw) + triplet(tv, tw, ntw)
        l_r = mse(model.V_rec(tv), pv) + mse(model.A_rec(ta), pa) + mse(tv, tw) + mse(ta, tw)
    expected = {"triplet": l_t, "rec": l_rec, "cross_triplet": l_ct, "text_triplet": l_w, "reg": l_r,
                "loss": l_t + l_rec + l_ct + l_w + l_r}
    for key, value in expected.items():
        torch.testing.assert_close(losses[key].detach(), value, rtol=1e-5, atol=1e-6, msg=key)


def test_coge_loss_is_bce_plus_kd_plus_mask_by_hand():
    model = build("coge").eval()  # eval: the two passes (model's and ours) see the same BN statistics
    batch, class_text = tiny_batch()
    losses = model.training_losses(batch, class_text)
    c = model.config
    audio, visual = batch.audio.clone().requires_grad_(True), batch.visual.clone().requires_grad_(True)
    m_a, m_v = model.psi_a(audio), model.psi_v(visual)
    fused = model.attention(torch.stack([model.proj_a(audio * m_a), model.proj_v(visual * m_v)], 1))
    e_w = model.f_w(class_text)
    p_a = torch.softmax(model.f_a(fused[:, 0]) @ e_w.T, dim=1)  # τ = 1
    p_v = torch.softmax(model.f_v(fused[:, 1]) @ e_w.T, dim=1)
    p = c.beta * p_v + (1 - c.beta) * p_a  # (B, K)
    y = F.one_hot(batch.target, len(class_text)).float()
    l_cls = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).sum(dim=1).mean()
    kl = lambda q, r: (q * (torch.log(q) - torch.log(r))).sum(dim=1).mean()  # KL(q ‖ r)
    l_kd = 0.5 * (kl(p_v, p_a) + kl(p_a, p_v))
    grad_a, grad_v = torch.autograd.grad(l_cls, [audio, visual], retain_graph=True)
    # Default reading: the top 25 % |gradient| dimensions are the masked ones (target 0), the rest 1.
    target_a, target_v = torch.ones_like(m_a), torch.ones_like(m_v)
    for target, grad in ((target_a, grad_a), (target_v, grad_v)):
        k = round(0.25 * grad.shape[1])
        target.scatter_(1, grad.abs().topk(k, dim=1).indices, 0.0)
    torch.testing.assert_close(pseudo_mask(grad_a, 0.25, "drop"), target_a)
    l_mask = torch.sqrt(((target_v - m_v) ** 2).sum(1)).mean() + torch.sqrt(((target_a - m_a) ** 2).sum(1)).mean()
    expected = {"cls": l_cls, "kd": l_kd, "mask": l_mask, "loss": l_cls + 1.0 * l_kd + 0.5 * l_mask}
    for key, value in expected.items():
        torch.testing.assert_close(losses[key].detach(), value.detach(), rtol=1e-5, atol=1e-6, msg=key)


# --- audio and visual enter where they should ------------------------------------------------------------

@pytest.mark.parametrize("name", list_models())
def test_models_take_audio_and_visual_of_their_own_sizes_and_use_both(name):
    model = build(name).eval()
    batch, class_text = tiny_batch()
    with torch.no_grad():
        base = model.class_distances(batch.audio, batch.visual, class_text)
        assert base.shape == (12, 4)
        for changed in ("audio", "visual"):  # the scores depend on each modality
            audio = batch.audio + (1.0 if changed == "audio" else 0.0)
            visual = batch.visual + (1.0 if changed == "visual" else 0.0)
            assert not torch.allclose(model.class_distances(audio, visual, class_text), base, atol=1e-4), changed
        # 16-d visual / 24-d audio: a swap fails loudly (ClipClap concatenates them to 40 either way; its
        # order is tested below, column by column).
        if name != "clipclap":
            with pytest.raises(RuntimeError):
                model.class_distances(batch.visual, batch.audio, class_text)
    losses = build(name).train().training_losses(batch, class_text)
    assert torch.isfinite(losses["loss"])


def test_clipclap_input_order_is_visual_then_audio_and_text_clip_then_clap():
    model = build("clipclap")
    assert model.O_enc[0].in_features == 16 + 24 and model.W_enc[0].in_features == 16 + 24
    # The first 16 input columns of O_enc must be the visual features: zero the audio block of the weights
    # and the output no longer depends on the audio.
    with torch.no_grad():
        model.O_enc[0].weight[:, 16:] = 0
    model.eval()
    batch, class_text = tiny_batch()
    with torch.no_grad():
        a = model.embed_samples(batch.audio, batch.visual)
        b = model.embed_samples(batch.audio * 5, batch.visual)
    torch.testing.assert_close(a, b)
    audio_only = build("clipclap", modality="audio")
    assert audio_only.O_enc[0].in_features == 24 and audio_only.text_slice == slice(16, 40)  # CLAP part
    visual_only = build("clipclap", modality="visual")
    assert visual_only.O_enc[0].in_features == 16 and visual_only.text_slice == slice(0, 16)  # CLIP part


@pytest.mark.parametrize("name, changes", [("clipclap", {"modality": "audio"}), ("clipclap", {"modality": "visual"}),
                                           ("avca", {}), ("coge", {})])
def test_the_protocol_hands_audio_and_visual_to_the_model_in_order(name, changes):
    """Through StageTrainer and evaluate, on data whose audio (24-d) and visual (16-d) differ in size: a swap
    in the batch assembly or the evaluation raises. (ClipClap's single-modality variants take one input.)"""
    from avzsl.data.synthetic import SyntheticSpec, make_synthetic
    from avzsl.models.registry import get_recipe
    from avzsl.training.protocol import StageTrainer

    data = make_synthetic(SyntheticSpec(scale=0.02, audio_dim=24, visual_dim=16, text_parts=DIMS.text_parts))
    config = dataclasses.asdict(TINY[name]) | changes
    recipe = get_recipe(name, "UCF", config_overrides=config,
                        training_overrides={"epochs": 1, "batches_per_epoch": 2, "batch_size": 16})
    trainer = StageTrainer(recipe, data, 1, torch.device("cpu"), progress=False)
    model, optimizer, _ = trainer.new_model()
    trainer.train_epoch(model, optimizer, 0)
    metrics = evaluate(model, trainer.stage_data, trainer.text, np.array([0.0]))
    assert 0 <= metrics.HM <= 100


def test_model_input_sizes_come_from_the_data_in_the_registry():
    for name in list_models():
        model = create_model(name, DIMS)
        model.eval()
        with torch.no_grad():
            out = model.class_distances(torch.randn(3, 24), torch.randn(3, 16), torch.randn(2, DIMS.text))
        assert out.shape == (3, 2)


# --- CoGe: ZSL softmaxes over the unseen classes only --------------------------------------------------------

class BranchLogits(GZSLModel):
    """A stand-in with CoGe's scoring: text row c holds the two branches' logits (z_v, z_a) for class c."""

    name = "branch-logits"

    def distances_to_sets(self, audio, visual, texts):
        ps = [0.5 * torch.softmax(text[:, 0], 0) + 0.5 * torch.softmax(text[:, 1], 0) for text in texts]  # per set
        return [-torch.log(p).expand(len(audio), -1) for p in ps]  # (N, K_i)


def test_zsl_asks_the_model_about_the_unseen_classes_alone():
    # Classes 0 (seen), 1, 2 (unseen). Over all three, the seen class takes the visual branch's whole mass and
    # unseen 1 wins on audio; over the unseen pair alone the visual branch prefers 2 strongly, and 2 wins.
    text = torch.tensor([[10.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    one = Features(np.zeros((1, 2)), np.zeros((1, 2)), np.array([2]), ["v"])
    stage = StageData(1, one, one, np.array([0]), np.array([0]), np.array([1, 2]))
    model = BranchLogits()
    with torch.no_grad():
        over_all = model.class_distances(torch.zeros(1, 2), None, text)[0]
    assert over_all[1] < over_all[2]  # masking the seen column of the all-class scores would predict 1
    assert evaluate(model, stage, text, np.array([0.0])).ZSL == 100.0  # unseen-only softmaxes predict 2


def test_coge_distances_over_a_subset_are_its_own_softmaxes():
    model = build("coge").eval()
    batch, class_text = tiny_batch()
    with torch.no_grad():
        subset = model.class_distances(batch.audio, batch.visual, class_text[2:])
        torch.testing.assert_close(torch.exp(-subset).sum(dim=1), torch.ones(12))  # a distribution over 2 classes


# --- AVCA: the reference's BatchNorm side passes ----------------------------------------------------------

def count_bn_calls(model):
    counts: dict[str, int] = {}
    hooks = []
    for name in ("V_proj", "A_proj", "W_proj", "D"):
        bn = [m for m in getattr(model, name).modules() if isinstance(m, torch.nn.BatchNorm1d)][-1]
        hooks.append(bn.register_forward_hook(lambda *_, n=name: counts.__setitem__(n, counts.get(n, 0) + 1)))
    return counts, hooks


@pytest.mark.parametrize("side_passes, expected", [
    (True, {"V_proj": 4, "A_proj": 4, "W_proj": 3, "D": 6}),  # + after-step pass, D(θ_w⁻), proj(rec)
    (False, {"V_proj": 2, "A_proj": 2, "W_proj": 2, "D": 5}),
])
def test_avca_side_passes_run_through_the_protocols_training_step(side_passes, expected):
    from avzsl.data.synthetic import SyntheticSpec, make_synthetic
    from avzsl.models.registry import get_recipe
    from avzsl.training.protocol import StageTrainer

    data = make_synthetic(SyntheticSpec(scale=0.02, audio_dim=24, visual_dim=16, text_parts=DIMS.text_parts))
    config = {k: v for k, v in dataclasses.asdict(TINY["avca"]).items()} | {"bn_side_passes": side_passes}
    recipe = get_recipe("avca", "UCF", config_overrides=config,
                        training_overrides={"epochs": 1, "batches_per_epoch": 1, "batch_size": 16})
    trainer = StageTrainer(recipe, data, 1, torch.device("cpu"), progress=False)
    model, optimizer, _ = trainer.new_model()
    counts, hooks = count_bn_calls(model)
    trainer.train_epoch(model, optimizer, 0)
    for h in hooks:
        h.remove()
    assert counts == expected
    assert AVCAConfig().bn_side_passes  # on by default, as in the reference


def test_avca_eval_statistics_come_from_the_last_train_mode_pass():
    """Momentum 0.99: after a step with side passes, V_proj's output BN holds (almost) the statistics of the
    post-step positive batch, which is what the reference evaluates with."""
    model = build("avca")
    batch, class_text = tiny_batch(n=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    model.training_losses(batch, class_text)["loss"].backward()
    optimizer.step()
    model.after_step(batch)
    bn = model.V_proj[1][1]
    with torch.no_grad():
        pa, pv = model.A_enc(batch.audio), model.V_enc(batch.visual)
        t = model.attention(torch.stack([pa, pv], 1) + model.modality_embedding)
        pre_bn = model.V_proj[1][0](model.V_proj[0](pv + t[:, 1]))  # (B, 6) input of the last BN, post-step
    # running = 0.01 · previous + 0.99 · batch mean; the previous is bounded, so the batch mean dominates.
    assert torch.allclose(bn.running_mean, pre_bn.mean(0), atol=0.02 * pre_bn.abs().max().item() + 1e-3)
