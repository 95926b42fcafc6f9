"""How long an embedding map of 3,000 points takes: t-SNE and UMAP, cold and warm.

    python benchmarks/projection_speed.py                     # 3,000 SYNTHETIC points per space
    python benchmarks/projection_speed.py --checkpoint checkpoints/NAME   # a real atlas

Rows:
  cold process   a fresh Python process: imports + numba compilation (UMAP) + the fit, what the first map
                 would cost without the app's start-up warm-up
  warm-up        `projection.warm_up()` alone, in a fresh process (the app runs it at start-up)
  fit (warm)     a map fitted after warm-up: what a user waits for the first time a map is asked for
  cached         the same map again (memory cache)
  from disk      the same map in a new cache reading the .npz written by the first
  add points     placing one video and six labels on the finished map (what a classify adds)
The app's target: a 3,000-point map shown in under 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_POINTS = 3000


def synthetic_atlas(n: int = N_POINTS):
    """An Atlas of n SYNTHETIC videos: clustered 512-d audio / visual features and a 64-d 'joint' space."""
    from avzsl.maps.atlas import Atlas
    from avzsl.data.synthetic import ENCODER_DIMS, SyntheticSpec, make_synthetic
    from avzsl.encoders.dims import CLAP, CLIP, InputDims

    data = make_synthetic(SyntheticSpec(scale=2.4, **ENCODER_DIMS))
    test = data.stage(2).eval
    rows = np.sort(np.random.default_rng(0).choice(len(test.labels), size=min(n, len(test.labels)), replace=False))
    audio, visual, labels = test.audio[rows], test.visual[rows], test.labels[rows]
    mix = np.random.default_rng(1).standard_normal((1024, 64)).astype(np.float32) / 32  # stand-in for a model
    dims = InputDims(audio.shape[1], visual.shape[1], data.text.parts)
    text = data.text.embeddings  # (K, 1024) [CLIP | CLAP]; the stand-in joint space takes [audio | visual] order
    class_joint = np.concatenate([text[:, dims.text_slice(CLAP)], text[:, dims.text_slice(CLIP)]], 1) @ mix
    return Atlas(audio, visual, np.concatenate([audio, visual], 1) @ mix, labels, class_joint, text,
                 [f"video-{i}" for i in rows], list(data.split.class_names), [], []), dims


def load(checkpoint: str | None):
    if checkpoint is None:
        return synthetic_atlas()
    from avzsl.maps.atlas import load_atlas
    from avzsl.models.checkpoint import read_config

    return load_atlas(Path(checkpoint)), read_config(Path(checkpoint)).input_dims


def child(what: str, method: str, checkpoint: str | None) -> None:
    """Runs in a fresh process: print one JSON line of seconds."""
    t0 = time.perf_counter()
    from avzsl.maps import projection

    atlas, dims = load(checkpoint)
    t_data = time.perf_counter()
    if what == "warm-up":
        projection.warm_up()
        print(json.dumps({"seconds": time.perf_counter() - t_data}))
        return
    cache = projection.ProjectionCache()
    cache.atlas_map("bench", projection.atlas_space(atlas, "visual", dims), method)
    print(json.dumps({"seconds": time.perf_counter() - t_data, "with_imports": time.perf_counter() - t0}))


def run_child(what: str, method: str, checkpoint: str | None) -> dict:
    cmd = [sys.executable, __file__, "--child", what, method] + (["--checkpoint", checkpoint] if checkpoint else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="checkpoint folder with an atlas (default: synthetic points)")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--no-cold", action="store_true", help="skip the fresh-process measurements")
    args = p.parse_args(argv)
    if args.child:
        child(*args.child, args.checkpoint)
        return 0

    from avzsl.maps import projection

    rows = []
    if not args.no_cold:
        rows.append(("umap", "warm-up", "-", run_child("warm-up", "umap", args.checkpoint)["seconds"]))
        for method in projection.METHODS:
            rows.append((method, "cold process", "visual", run_child("cold", method, args.checkpoint)["seconds"]))

    atlas, dims = load(args.checkpoint)
    print(f"atlas: {len(atlas.labels)} videos, {len(np.unique(atlas.labels))} classes")
    t0 = time.perf_counter()
    projection.warm_up()
    print(f"warm-up in this process: {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        cache = projection.ProjectionCache(directory=tmp)
        for method in projection.METHODS:
            for space in projection.SPACES:
                vectors = projection.atlas_space(atlas, space, dims)
                t0 = time.perf_counter()
                m = cache.atlas_map("bench", vectors, method)
                rows.append((method, "fit (warm)", space, time.perf_counter() - t0))
                t0 = time.perf_counter()
                cache.atlas_map("bench", vectors, method)
                rows.append((method, "cached", space, time.perf_counter() - t0))
                t0 = time.perf_counter()
                projection.ProjectionCache(directory=tmp).atlas_map("bench", vectors, method)
                rows.append((method, "from disk", space, time.perf_counter() - t0))
                new = np.concatenate([vectors.videos[:1], vectors.class_vectors[:6]] if vectors.class_vectors is not None
                                     else [vectors.videos[:7]])
                m.place(new[:1])  # first transform call of this reducer builds its search index
                t0 = time.perf_counter()
                m.place(new)
                rows.append((method, "add points", space, time.perf_counter() - t0))

    print(f"\n{'method':<6} {'what':<13} {'space':<7} {'seconds':>8}")
    for method, what, space, seconds in rows:
        print(f"{projection.METHOD_NAMES[method]:<6} {what:<13} {space:<7} {seconds:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
