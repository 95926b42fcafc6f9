"""Behaviour that nothing else would catch if it broke: every failure here would leave shapes, ranges and the
other tests intact (each was broken once on purpose and seen to fail)."""

from __future__ import annotations

import numpy as np
import pytest

from avzsl.encoders import EncoderSpec, load_encoders
from avzsl.encoders.prompts import ensemble, fill, get_prompt_set
from avzsl.encoders.text_cache import LabelCache
from avzsl.training.metrics import gzsl_metrics


def test_s_and_u_are_means_over_classes_not_over_samples():
    """Seen classes 0 (3 videos, all right) and 1 (1 video, wrong): S = mean(1, 0) = 50 %, where the share of
    seen videos right would be 75 %. Unseen classes 2 (1 video, right) and 3 (3 videos, 1 right):
    U = mean(1, 1/3) = 66.7 %, not 50 %. γ = 0, and the ZSL columns give the same picks."""
    labels = np.array([0, 0, 0, 1, 2, 3, 3, 3])
    predicted = np.array([0, 0, 0, 0, 2, 3, 2, 2])
    distances = np.ones((len(labels), 4))
    distances[np.arange(len(labels)), predicted] = 0.0  # (N, K): the predicted class is the nearest
    m = gzsl_metrics(distances, labels, np.arange(4), np.array([0, 1]), np.array([2, 3]), 0.0)
    assert m.S == pytest.approx(50.0)
    assert m.U == pytest.approx(100 * (1 + 1 / 3) / 2)
    assert m.HM == pytest.approx(2 * m.S * m.U / (m.S + m.U))
    assert m.ZSL == pytest.approx(100 * (1 + 1 / 3) / 2)


@pytest.fixture(scope="module")
def encoders():
    return load_encoders("random")  # preset laion-clap: CLIP text 512-d and CLAP text 512-d, equal halves


def direct_text(encoders, labels, prompt_set="free-text"):
    """Each tower's prompt-ensembled text embedding, computed here without embed_labels or its cache."""
    prompts = get_prompt_set(prompt_set)
    clip = ensemble(encoders.clip.encode_text(fill(prompts.clip_templates, labels)), len(prompts.clip_templates))
    clap = ensemble(encoders.clap.encode_text(fill(prompts.clap_templates, labels)), len(prompts.clap_templates))
    return clip.detach().cpu().numpy(), clap.detach().cpu().numpy()


def test_joined_label_text_is_clip_then_clap_on_a_preset_with_equal_halves(encoders):
    """With two 512-d halves a swapped [CLAP | CLIP] has the same shape and passes every size check."""
    from avzsl.models.checkpoint import preset_dims
    from avzsl.serving.service import PredictionService

    assert encoders.clip_dim == encoders.clap_dim == 512
    labels = ["dog barking", "playing guitar", "rain on a roof"]
    clip, clap = direct_text(encoders, labels)
    assert not np.allclose(clip, clap, atol=1e-2)  # the halves differ, so an order mistake shows
    text = encoders.embed_labels(labels)
    np.testing.assert_allclose(text.joined[:, :512], clip, atol=1e-5)
    np.testing.assert_allclose(text.joined[:, 512:], clap, atol=1e-5)
    assert encoders.text_parts == (("clip", 512), ("clap", 512))
    assert [name for name, _ in preset_dims(encoders.preset).text_parts] == ["clip", "clap"]
    prediction = PredictionService(encoders).classify("examples/bird.mp4", labels)
    np.testing.assert_allclose(prediction.label_text[:, :512], clip, atol=1e-5)  # what a checkpoint is fed
    np.testing.assert_allclose(prediction.label_text[:, 512:], clap, atol=1e-5)


@pytest.mark.parametrize("shared", ["one cache object", "one cache folder"])
def test_two_encoder_sets_sharing_one_label_cache_never_serve_each_others_vectors(tmp_path, monkeypatch, shared):
    """Same architectures and sizes, other weights (random seed 1): the vectors fit either set's models."""
    folder = tmp_path if shared == "one cache folder" else None
    ours = load_encoders("random", label_cache_dir=folder)
    other = load_encoders(EncoderSpec("laion-clap", random=True, seed=1), label_cache_dir=folder)
    if shared == "one cache object":
        cache = LabelCache()
        monkeypatch.setattr(ours, "label_cache", cache)
        monkeypatch.setattr(other, "label_cache", cache)
    labels = ["a violin solo", "thunder"]
    first = ours.embed_labels(labels)
    second = other.embed_labels(labels)  # the cache holds these labels already, for the other encoders
    clip, clap = direct_text(other, labels)
    np.testing.assert_allclose(second.clip, clip, atol=1e-5)
    np.testing.assert_allclose(second.clap, clap, atol=1e-5)
    assert not np.allclose(first.clip, second.clip, atol=1e-3)
    again = ours.embed_labels(labels)  # and back: each set gets its own
    np.testing.assert_array_equal(again.clip, first.clip)
    np.testing.assert_array_equal(again.clap, first.clap)
