"""Videos per second of the two extraction engines on this machine, in the same run: local against Ray.

    python benchmarks/extract_engines.py                  # 64 clips, 2 rounds
    python benchmarks/extract_engines.py --videos 32 --rounds 1 --batch-size 8

All media is SYNTHETIC: --videos 4 s 320x240 25 fps H.264 + AAC clips (each a different picture and
tone), in 4 class folders, written once into --workdir. Encoders run on random weights (the real
architectures, so the times are the real times; the features are meaningless).

Per round, one run of each engine into a fresh store (the same plan, split and settings):
  local   avzsl.extraction.extract_local: decode in --decode-workers threads, embed in this process
          (encoders loaded beforehand, once: a long extraction amortises them)
  ray     avzsl.extraction.ray_engine.extract_with_ray on a Ray started beforehand on this machine's cores
          (`ray.init`, timed apart): decode in CPU tasks, embed in one actor; the actor's start and its
          encoder load are counted, as every run pays them
Each run's class text is embedded first by both (the same call). The rounds alternate the engines, so a
change in the machine's load hits both alike; the medians are compared. Target: ray <= 1.3 x local time.
The stores are checked equal (features to 1e-5) after the first round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from avzsl.encoders import EncoderSpec, load_encoders  # noqa: E402
from avzsl.extraction import ExtractionSettings, extract_local, find_videos, merge_extraction, plan_random_split  # noqa: E402
from avzsl.synthetic_media import write_test_video  # noqa: E402

CLASSES = ("dog", "drums", "engine", "rain")
TARGET = 1.3  # ray time / local time


def write_clips(folder: Path, count: int) -> Path:
    for i in range(count):
        path = folder / CLASSES[i % len(CLASSES)] / f"clip_{i:03d}.mp4"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        shade = (37 * i) % 256
        partial = path.with_name(f"partial-{path.name}")
        write_test_video(partial, seconds=4, width=320, height=240, fps=25, audio_hz=200 + 15 * i,
                         frame_fn=lambda k, t, s=shade: np.full((240, 320, 3), (s + k) % 256, np.uint8))
        os.replace(partial, path)  # a run killed half-way leaves no half-written clip to be reused
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=64, help="clips (default 64)")
    p.add_argument("--rounds", type=int, default=2, help="runs of each engine, alternating (default 2)")
    p.add_argument("--batch-size", type=int, default=16, help="videos per encoder call, both engines (default 16)")
    p.add_argument("--decode-workers", type=int, default=2, help="local engine's decode threads (default 2)")
    p.add_argument("--gpus-per-worker", type=float, default=0,
                   help="the Ray engine's embedding actor on a GPU (default 0: CPU); where a GPU is lent")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "avzsl-extract-engines")
    args = p.parse_args(argv)

    import ray

    videos_dir = write_clips(args.workdir / "videos", args.videos)
    plan = plan_random_split(find_videos(videos_dir), seed=0, dataset="synthetic")
    spec = EncoderSpec.parse("random")
    encoders = load_encoders(spec)
    settings = ExtractionSettings()
    print(f"{len(plan.videos)} SYNTHETIC 4 s 320x240 clips, batch {args.batch_size}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at the start")

    from avzsl.extraction.ray_engine import extract_with_ray

    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    print(f"ray.init (local, {int(ray.cluster_resources()['CPU'])} CPUs): {time.perf_counter() - started:.1f} s")

    engines = {
        "local": lambda out: extract_local(out, videos_dir, plan, settings, encoders, batch_size=args.batch_size,
                                           decode_workers=args.decode_workers, progress=False),
        "ray": lambda out: extract_with_ray(out, videos_dir, plan, settings, spec, batch_size=args.batch_size,
                                            gpus_per_worker=args.gpus_per_worker, progress=False),
    }
    stores = Path(tempfile.mkdtemp(prefix="stores-", dir=args.workdir))  # this run's own: runs may overlap
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for r in range(args.rounds):
        for name, run in engines.items() if r % 2 == 0 else reversed(engines.items()):
            out = stores / f"{name}-{r}"
            t0 = time.perf_counter()
            result = run(out)
            seconds[name].append(time.perf_counter() - t0)
            assert result.extracted == len(plan.videos) and result.failed == 0, result
            merge_extraction(out)
            print(f"  round {r + 1} {name:>5}: {len(plan.videos) / seconds[name][-1]:6.2f} videos/s "
                  f"({seconds[name][-1]:.1f} s), load average {os.getloadavg()[0]:.2f}")
        if r == 0:
            _check_same(stores / "local-0", stores / "ray-0")
    ray.shutdown()
    shutil.rmtree(stores)

    local, distributed = (statistics.median(seconds[name]) for name in ("local", "ray"))
    print(f"\nmedian of {args.rounds} rounds: local {len(plan.videos) / local:.2f} videos/s, "
          f"ray {len(plan.videos) / distributed:.2f} videos/s")
    ratio = distributed / local
    print(f"ray / local time: {ratio:.2f}x (target <= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'}); "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


def _check_same(a: Path, b: Path) -> None:
    from avzsl.data.store import read_store

    x, y = read_store(a), read_store(b)
    for name, features in x.subsets.items():
        assert features.video_ids == y.subsets[name].video_ids
        np.testing.assert_allclose(features.audio, y.subsets[name].audio, atol=1e-5)
        np.testing.assert_allclose(features.visual, y.subsets[name].visual, atol=1e-5)
    print("  the two stores hold the same features (to 1e-5)")


if __name__ == "__main__":
    sys.exit(main())
