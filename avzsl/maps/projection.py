"""Embedding maps: 2-D t-SNE or UMAP pictures of a checkpoint's atlas (see avzsl/maps/atlas.py). No Gradio here.

    cache = ProjectionCache()                                   # or ProjectionCache(directory=...) to keep maps on disk
    space = atlas_space(atlas, "joint")                         # which vectors go on the map
    m = cache.atlas_map(atlas_key(checkpoint_dir), space, "umap")   # fitted once per (atlas, space, method, seed)
    m.video_xy, m.class_xy                                      # (M, 2) atlas videos, (K, 2) class text markers
    m.place(my_vectors)                                         # (n, 2): new points put on the existing map

A map is fitted on the atlas videos only. Everything else (the classes' text embeddings, the user's videos
and typed labels) is *placed* on the finished map, never refitted:

- UMAP: with the fitted reducer's `transform` (new points are embedded against the training points). Atlases
  of up to 4,096 videos are fitted on their exact distance matrix, larger ones with UMAP's approximate
  nearest neighbours (whose numba code compiles at first use, not in `warm_up`).
- t-SNE has no transform: a new point goes to the distance-weighted mean of the 2-D positions of its k
  nearest atlas videos (weights 1 / distance, measured in the space the map was fitted in). The same rule
  serves UMAP maps read back from the disk cache, which keeps coordinates only, not the reducer.

Before either method the vectors are scaled to unit length (all encoders and models here compare by
cosine) and reduced to at most 50 dimensions with PCA, which is what the new points go through as well.
Fitting is seeded, so the same atlas gives the same picture in every process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avzsl.io import atomic_write
from avzsl.maps.atlas import ATLAS_TENSORS, Atlas
from avzsl.encoders.dims import InputDims

log = logging.getLogger(__name__)

METHODS = ("umap", "tsne")
METHOD_NAMES = {"umap": "UMAP", "tsne": "t-SNE"}
SPACES = ("joint", "visual", "audio")
SPACE_NAMES = {"joint": "learned joint space", "visual": "input visual features (CLIP)",
               "audio": "input audio features (CLAP)"}

PCA_DIMS = 50  # reduce to this before t-SNE / UMAP: faster neighbour search, same picture
UMAP_NEIGHBOURS = 15
UMAP_MIN_DIST = 0.1
UMAP_EPOCHS = 200  # umap-learn picks 500 for small data sets; 200 gives the same clusters in 40% of the time
# Up to this many points UMAP is fitted on the exact distance matrix (metric="precomputed"; 64 MB at the limit):
# umap-learn's own small-data path calls its metric from Python for every pair (30x slower), and its
# nearest-neighbour descent, used above the limit, costs about a minute of numba compilation per process.
EXACT_NEIGHBOURS_MAX = 4096
TSNE_PERPLEXITY = 30.0
TSNE_ITERATIONS = 400  # sklearn's default is 1000 (the first 250 are early exaggeration); clusters settle sooner
TSNE_ANGLE = 0.6  # Barnes-Hut accuracy (sklearn default 0.5); a little coarser, noticeably faster
KNN_NEIGHBOURS = 5  # for placing points on a map without a transform
CACHE_VERSION = 1  # bump when any setting above changes what a map looks like


# --- which vectors go on a map ------------------------------------------------------------------------------


@dataclass
class SpaceVectors:
    """The vectors of one space of an atlas, ready to map."""

    space: str  # "joint" | "visual" | "audio"
    videos: np.ndarray  # (M, D) one vector per atlas video
    labels: np.ndarray  # (M,) global class id of each video
    class_ids: np.ndarray  # (K,) classes that get a text marker (those with videos in the atlas)
    class_vectors: np.ndarray | None  # (K, D) their text in this space; None when the space has no text of that size

    @property
    def dim(self) -> int:
        return self.videos.shape[1]


def atlas_space(atlas: Atlas, space: str, dims: InputDims | None = None) -> SpaceVectors:
    """Videos and class text markers of `space`: joint = learned embeddings (videos and class texts);
    visual / audio = the input features, with the class texts' CLIP / CLAP part when the sizes match
    (dims: the checkpoint's InputDims, whose text layout `atlas.class_text` has; None: no text markers)."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, not {space!r}")
    labels = np.asarray(atlas.labels, dtype=np.int64)
    class_ids = np.unique(labels)
    videos = {"joint": atlas.joint, "visual": atlas.visual, "audio": atlas.audio}[space]
    if space == "joint":
        class_vectors = atlas.class_joint[class_ids]
    else:
        text = None if dims is None else dims.text_in_space(atlas.class_text, space, videos.shape[1])
        class_vectors = None if text is None else text[class_ids]
    return SpaceVectors(space, np.asarray(videos, dtype=np.float32), labels, class_ids, class_vectors)


# --- fitting and placing ------------------------------------------------------------------------------------


class Projection:
    """A fitted 2-D map of M points; `add_points` places new points on it without refitting.

    The points are scaled to unit length and reduced by PCA to at most PCA_DIMS (`reduce`) before the fit,
    and so is every point added later.
    """

    def __init__(self, vectors: np.ndarray, coords: np.ndarray | None = None):
        x = _unit(vectors)
        self.mean = x.mean(axis=0)
        k = min(PCA_DIMS, x.shape[0], x.shape[1])
        self.components = None  # (D, k); None: no reduction needed
        if k < x.shape[1]:
            self.components = np.linalg.svd(x - self.mean, full_matrices=False)[2][:k].T  # deterministic, unlike randomized PCA
        self.fitted = self.reduce(x, normalised=True)  # (M, k)
        self.coords = coords  # (M, 2) float32, set by the fit
        self.reducer = None  # fitted umap.UMAP, or None (t-SNE, or a map read from disk)
        self.precomputed = False  # the reducer was fitted on a distance matrix

    def reduce(self, x: np.ndarray, *, normalised: bool = False) -> np.ndarray:
        x = x if normalised else _unit(x)
        if self.components is None:
            return np.ascontiguousarray(x, dtype=np.float32)
        return np.ascontiguousarray((x - self.mean) @ self.components, dtype=np.float32)

    def add_points(self, points: np.ndarray) -> np.ndarray:
        """(n, D) vectors of the fitted space -> (n, 2) positions on this map."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float32))
        if len(points) == 0:
            return np.empty((0, 2), np.float32)
        z = self.reduce(points)
        if self.reducer is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x = pairwise_distances(z, self.fitted) if self.precomputed else z
                return np.asarray(self.reducer.transform(x), dtype=np.float32)
        return knn_place(self.fitted, self.coords, z)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, d), (M, d) -> (n, M) Euclidean distances, float32."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    d2 = (a64**2).sum(1)[:, None] - 2 * a64 @ b64.T + (b64**2).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0)).astype(np.float32)


def knn_place(fitted: np.ndarray, coords: np.ndarray, new: np.ndarray, k: int = KNN_NEIGHBOURS) -> np.ndarray:
    """Distance-weighted mean of the 2-D positions of each new point's k nearest fitted points.

    fitted (M, d), coords (M, 2), new (n, d) -> (n, 2). A point equal to a fitted point lands on it.
    """
    k = min(k, len(fitted))
    dist = pairwise_distances(new, fitted)  # (n, M)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]  # (n, k)
    near = np.take_along_axis(dist, nearest, axis=1)
    weights = 1.0 / np.maximum(near, 1e-6)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", weights, coords[nearest]).astype(np.float32)


def fit_projection(vectors: np.ndarray, method: str = "umap", *, seed: int = 0) -> Projection:
    """Fit a seeded 2-D t-SNE or UMAP map of (M, D) vectors."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError(f"expected (M, D) vectors with M > 0, got shape {vectors.shape}")
    projection = Projection(vectors)
    z = projection.fitted
    m = len(z)
    if m < 5:  # too few points for a neighbourhood method: the first two principal axes
        projection.coords = np.zeros((m, 2), np.float32)
        projection.coords[:, : min(2, z.shape[1])] = z[:, :2]
        return projection
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap's "n_jobs overridden by random_state", sklearn FutureWarnings
        if method == "umap":
            import umap  # heavy import (numba), only when a UMAP is asked for

            projection.precomputed = m <= EXACT_NEIGHBOURS_MAX
            projection.reducer = umap.UMAP(
                n_neighbors=min(UMAP_NEIGHBOURS, m - 1), min_dist=UMAP_MIN_DIST, n_epochs=UMAP_EPOCHS,
                random_state=seed, transform_seed=seed, init="spectral" if m > 20 else "random",
                metric="precomputed" if projection.precomputed else "euclidean")
            coords = projection.reducer.fit_transform(pairwise_distances(z, z) if projection.precomputed else z)
        else:
            from sklearn.manifold import TSNE

            coords = TSNE(n_components=2, perplexity=min(TSNE_PERPLEXITY, (m - 1) / 3), init="pca",
                          learning_rate="auto", max_iter=max(250, TSNE_ITERATIONS), angle=TSNE_ANGLE,
                          random_state=seed).fit_transform(z)
    projection.coords = np.asarray(coords, dtype=np.float32)
    return projection


def warm_up(seed: int = 0) -> float:
    """Fit and use a tiny UMAP so that numba compiles its functions now, not during the first real map.

    Returns the seconds it took (10-15 s on 2 cores; numba keeps part of the code in its disk cache).
    """
    t0 = time.perf_counter()
    x = np.random.default_rng(seed).standard_normal((64, 8)).astype(np.float32)
    projection = fit_projection(x, "umap", seed=seed)
    projection.add_points(x[:2])
    return time.perf_counter() - t0


# --- maps of atlases, cached --------------------------------------------------------------------------------


@dataclass
class AtlasMap:
    """One map of one space of an atlas: the videos, the class text markers, and a way to add points."""

    space: SpaceVectors
    projection: Projection
    video_xy: np.ndarray  # (M, 2)
    class_xy: np.ndarray | None  # (K, 2), rows follow space.class_ids
    seconds: float  # time it took to fit (0 when it came from a cache)
    from_disk: bool = False

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """(n, D) vectors of this space -> (n, 2); raises ValueError when D is not the space's size."""
        vectors = np.atleast_2d(vectors)
        if vectors.shape[1] != self.space.dim:
            raise ValueError(f"cannot place {vectors.shape[1]}-d vectors on a map of {self.space.dim}-d vectors")
        return self.projection.add_points(vectors)


def atlas_key(checkpoint_dir: str | Path) -> str:
    """Identity of a checkpoint's atlas for caching: its path, size and modification time."""
    path = Path(checkpoint_dir).resolve() / ATLAS_TENSORS
    st = path.stat()
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


class ProjectionCache:
    """Maps computed once per (atlas, space, method, seed), in memory and optionally as .npz files on disk.

    Thread-safe: maps are fitted one at a time, so two sessions asking for the same map at once wait for one fit;
    a map already made is returned without waiting.
    """

    def __init__(self, directory: str | Path | None = None, *, seed: int = 0):
        self.directory = None if directory is None else Path(directory)
        self.seed = seed
        self._maps: dict[tuple, AtlasMap] = {}
        self._fitting = threading.Lock()
        self.fits = 0  # how many maps were actually fitted (for tests and logs)

    def cached(self, key: str, space: str, method: str) -> bool:
        return (key, space, method, self.seed) in self._maps

    def atlas_map(self, key: str, vectors: SpaceVectors, method: str) -> AtlasMap:
        full = (key, vectors.space, method, self.seed)
        if full not in self._maps:
            with self._fitting:
                if full not in self._maps:
                    self._maps[full] = self._load(full, vectors, method) or self._fit(full, vectors, method)
        return self._maps[full]

    def _file(self, full: tuple) -> Path | None:
        if self.directory is None:
            return None
        digest = hashlib.sha256(repr((*full, CACHE_VERSION)).encode()).hexdigest()[:24]
        return self.directory / f"map-{full[2]}-{full[1]}-{digest}.npz"

    def _fit(self, full: tuple, vectors: SpaceVectors, method: str) -> AtlasMap:
        t0 = time.perf_counter()
        projection = fit_projection(vectors.videos, method, seed=self.seed)
        class_xy = None if vectors.class_vectors is None else projection.add_points(vectors.class_vectors)
        seconds = time.perf_counter() - t0
        self.fits += 1
        log.info("%s map of the %s (%d points) in %.1f s", METHOD_NAMES[method], SPACE_NAMES[vectors.space],
                 len(vectors.videos), seconds)
        path = self._file(full)
        if path is not None:
            arrays = {"video_xy": projection.coords, **({} if class_xy is None else {"class_xy": class_xy})}

            def write(tmp):
                with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
                    np.savez(f, **arrays)

            try:
                atomic_write(path, write)
            except OSError as e:  # a read-only cache is not worth failing a map for
                log.warning("could not write the map cache %s: %s", path, e)
        return AtlasMap(vectors, projection, projection.coords, class_xy, seconds)

    def _load(self, full: tuple, vectors: SpaceVectors, method: str) -> AtlasMap | None:
        path = self._file(full)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path) as data:
                video_xy = data["video_xy"]
                class_xy = data["class_xy"] if "class_xy" in data.files else None
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring the unreadable map cache %s: %s", path, e)
            return None
        if video_xy.shape != (len(vectors.videos), 2) or (class_xy is None) != (vectors.class_vectors is None):
            return None
        # Coordinates only: new points are placed by nearest neighbours (the reducer is not stored).
        return AtlasMap(vectors, Projection(vectors.videos, video_xy), video_xy, class_xy, 0.0, from_disk=True)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
