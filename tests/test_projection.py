"""Embedding maps (avzsl/maps/projection.py): shapes, caching, placing points without refitting, determinism."""

import time

import numpy as np
import pytest

from avzsl.maps import projection
from avzsl.encoders.dims import InputDims, text_columns
from avzsl.maps.projection import ProjectionCache, atlas_space, fit_projection, knn_place
from avzsl.maps.atlas import Atlas


def clustered(n=240, dim=24, classes=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((classes, dim))
    labels = np.repeat(np.arange(classes), n // classes)
    return (centres[labels] + 0.3 * rng.standard_normal((len(labels), dim))).astype(np.float32), labels, centres


def small_atlas(seed=0):
    """Audio 20-d, visual 16-d, joint 8-d; class text = [clip 16 | clap 20] so both input spaces get markers."""
    rng = np.random.default_rng(seed)
    k_all, per = 7, 25
    labels = np.repeat(np.array([0, 2, 3, 5]), per)
    latent = rng.standard_normal((k_all, 4))

    def features(dim):
        basis = rng.standard_normal((4, dim))
        return (latent[labels] @ basis + 0.1 * rng.standard_normal((len(labels), dim))).astype(np.float32), latent @ basis

    audio, audio_text = features(20)
    visual, visual_text = features(16)
    joint, joint_text = features(8)
    class_text = np.concatenate([visual_text, audio_text], axis=1).astype(np.float32)
    return Atlas(audio, visual, joint, labels, joint_text.astype(np.float32), class_text,
                 [f"v{i}" for i in range(len(labels))], [f"class {c}" for c in range(k_all)], [0, 2, 3], [5])


PARTS = (("clip", 16), ("clap", 20))
DIMS = InputDims(20, 16, PARTS)


@pytest.fixture(scope="module")
def fitted():
    """A map of `clustered()` per method (seed 0), fitted once for the tests that only read it."""
    x, _, _ = clustered()
    return {method: fit_projection(x, method, seed=0) for method in projection.METHODS}


@pytest.mark.parametrize("method", projection.METHODS)
def test_fit_shapes_and_determinism(method, fitted):
    x, _, _ = clustered()
    a = fitted[method]
    b = fit_projection(x, method, seed=0)
    assert a.coords.shape == (len(x), 2) and a.coords.dtype == np.float32
    assert np.isfinite(a.coords).all()
    np.testing.assert_array_equal(a.coords, b.coords)
    placed = a.add_points(x[:5])
    assert placed.shape == (5, 2) and np.isfinite(placed).all()
    np.testing.assert_array_equal(placed, b.add_points(x[:5]))


def test_maps_keep_clusters_apart(fitted):
    x, labels, _ = clustered()
    coords = fitted["umap"].coords
    centroids = np.stack([coords[labels == c].mean(0) for c in np.unique(labels)])
    spread = np.mean([np.linalg.norm(coords[labels == c] - centroids[c], axis=1).mean() for c in np.unique(labels)])
    gaps = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)[np.triu_indices(len(centroids), 1)]
    assert gaps.min() > 2 * spread


def test_knn_place_lands_on_known_points_and_between_neighbours():
    fitted = np.array([[0.0, 0], [1, 0], [10, 10]], np.float32)
    coords = np.array([[0.0, 0], [2, 0], [50, 50]], np.float32)
    out = knn_place(fitted, coords, np.array([[1.0, 0], [0.5, 0]], np.float32), k=2)
    np.testing.assert_allclose(out[0], [2, 0], atol=1e-4)  # equal to a fitted point: exactly on it
    np.testing.assert_allclose(out[1], [1, 0], atol=1e-4)  # halfway between two: their mean


def test_tsne_new_points_go_near_their_cluster(fitted):
    x, labels, centres = clustered()
    p = fitted["tsne"]

    new = (centres[2] + 0.3 * np.random.default_rng(9).standard_normal((3, x.shape[1]))).astype(np.float32)
    placed = p.add_points(new)
    centroids = np.stack([p.coords[labels == c].mean(0) for c in np.unique(labels)])
    nearest = np.argmin(np.linalg.norm(placed[:, None] - centroids[None], axis=-1), axis=1)
    assert (nearest == 2).all()


def test_tiny_inputs_do_not_fail():
    x = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32)
    for method in projection.METHODS:
        p = fit_projection(x, method)
        assert p.coords.shape == (3, 2)
        assert p.add_points(x[:1]).shape == (1, 2)
    with pytest.raises(ValueError):
        fit_projection(np.zeros((0, 4)), "umap")
    with pytest.raises(ValueError):
        fit_projection(x, "pca")


def test_text_columns_and_spaces():
    assert text_columns(PARTS, "clip") == slice(0, 16)
    assert text_columns(PARTS, "clap") == slice(16, 36)
    assert text_columns(PARTS, "other") is None
    text = np.zeros((2, 36), np.float32)
    assert DIMS.text_in_space(text, "visual", 16).shape == (2, 16)
    assert DIMS.text_in_space(text, "audio", 20).shape == (2, 20)
    assert DIMS.text_in_space(text, "audio", 1024) is None  # other encoders: no markers
    assert DIMS.text_in_space(text, "joint", 16) is None

    atlas = small_atlas()
    joint = atlas_space(atlas, "joint", DIMS)
    assert joint.videos.shape == (100, 8) and list(joint.class_ids) == [0, 2, 3, 5]
    assert joint.class_vectors.shape == (4, 8)
    assert atlas_space(atlas, "visual", DIMS).class_vectors.shape == (4, 16)
    assert atlas_space(atlas, "audio", DIMS).class_vectors.shape == (4, 20)
    assert atlas_space(atlas, "audio", None).class_vectors is None
    with pytest.raises(ValueError):
        atlas_space(atlas, "depth", DIMS)


def test_cache_hit_is_fast_and_identical(tmp_path):
    atlas = small_atlas()
    cache = ProjectionCache()
    vectors = atlas_space(atlas, "joint", DIMS)
    first = cache.atlas_map("atlas-1", vectors, "tsne")
    t0 = time.perf_counter()
    again = cache.atlas_map("atlas-1", vectors, "tsne")
    assert time.perf_counter() - t0 < 0.01
    assert again is first and cache.fits == 1
    assert first.video_xy.shape == (100, 2) and first.class_xy.shape == (4, 2)
    cache.atlas_map("atlas-1", vectors, "umap")
    cache.atlas_map("atlas-2", vectors, "tsne")  # another atlas (e.g. a retrained checkpoint): its own map
    assert cache.fits == 3


def test_disk_cache_round_trip(tmp_path):
    atlas = small_atlas()
    vectors = atlas_space(atlas, "visual", DIMS)
    first = ProjectionCache(directory=tmp_path).atlas_map("k", vectors, "umap")
    assert len(list(tmp_path.glob("*.npz"))) == 1
    other = ProjectionCache(directory=tmp_path)
    loaded = other.atlas_map("k", vectors, "umap")
    assert other.fits == 0 and loaded.from_disk
    np.testing.assert_array_equal(loaded.video_xy, first.video_xy)
    np.testing.assert_array_equal(loaded.class_xy, first.class_xy)
    # without the reducer, new points are placed by nearest neighbours: an atlas video lands on itself
    np.testing.assert_allclose(loaded.place(vectors.videos[7]), first.video_xy[7:8], atol=1e-3)
    # a cache file of another shape (changed atlas) is ignored, not trusted
    smaller = atlas_space(small_atlas(seed=1), "visual", DIMS)
    smaller.videos, smaller.labels = smaller.videos[:50], smaller.labels[:50]
    assert not ProjectionCache(directory=tmp_path).atlas_map("k", smaller, "umap").from_disk


def test_adding_points_does_not_refit(monkeypatch):
    import umap
    from sklearn.manifold import TSNE

    calls = {"umap": 0, "tsne": 0}
    umap_fit, tsne_fit = umap.UMAP.fit, TSNE.fit_transform

    def count_umap(self, *a, **k):
        calls["umap"] += 1
        return umap_fit(self, *a, **k)

    def count_tsne(self, *a, **k):
        calls["tsne"] += 1
        return tsne_fit(self, *a, **k)

    monkeypatch.setattr(umap.UMAP, "fit", count_umap)
    monkeypatch.setattr(TSNE, "fit_transform", count_tsne)
    atlas = small_atlas()
    cache = ProjectionCache()
    vectors = atlas_space(atlas, "joint", DIMS)
    for method in projection.METHODS:
        m = cache.atlas_map("a", vectors, method)
        for _ in range(3):
            xy = m.place(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32))
            assert xy.shape == (4, 2)
        cache.atlas_map("a", vectors, method)
    assert calls == {"umap": 1, "tsne": 1}
    with pytest.raises(ValueError, match="8-d"):
        m.place(np.zeros((1, 5), np.float32))


def test_concurrent_requests_fit_once():
    import threading

    atlas = small_atlas()
    cache = ProjectionCache()
    vectors = atlas_space(atlas, "audio", DIMS)
    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.atlas_map("a", vectors, "tsne"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.fits == 1 and all(m is out[0] for m in out)


def test_warm_up_runs():
    assert projection.warm_up() >= 0


def test_large_atlases_use_approximate_neighbours(monkeypatch):
    """Above EXACT_NEIGHBOURS_MAX points UMAP runs on its own nearest-neighbour descent; transform still works."""
    monkeypatch.setattr(projection, "EXACT_NEIGHBOURS_MAX", 50)
    x, labels, _ = clustered(n=120)
    p = fit_projection(x, "umap", seed=0)
    assert not p.precomputed and p.reducer.metric == "euclidean"
    assert p.coords.shape == (120, 2) and p.add_points(x[:3]).shape == (3, 2)
    assert fit_projection(x[:40], "umap", seed=0).precomputed
