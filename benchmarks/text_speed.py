"""How long label embeddings take on CPU: new labels, the reference prompt sets, and cached labels.

    python benchmarks/text_speed.py                   # 2 threads, as on the target machine
    python benchmarks/text_speed.py --reference-labels 10

Runs on random weights: the architectures are the real ones, so the time is the same. Rows:
  new labels        `embed_labels` on 10 labels never seen before, default "free-text" prompt set
                    (all prompts of both towers), what a user waits for after typing labels
  reference set     the 48 CLIP / 30 CLAP templates of UCF / ActivityNet: every prompt at open_clip's and
                    laion_clap's full 77-token padding, against avzsl's trimmed / short-padded forwards
                    (same embeddings, checked in tests/test_encoders.py)
  cached            `embed_labels` on the same 10 labels again (in-memory cache)
Targets on 2 cores: new labels < 3 s, reference set >= 4x faster than full padding, cached < 1 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avzsl.encoders import PROMPT_SETS, load_encoders  # noqa: E402
from avzsl.encoders.prompts import fill  # noqa: E402

NEW_LABELS = [
    "dog barking", "playing acoustic guitar", "church bell ringing", "people cheering in a stadium",
    "car engine starting", "baby crying", "thunderstorm", "typing on a keyboard", "frying food", "violin solo",
]
REFERENCE_LABELS = [
    "Apply Eye Makeup", "Playing Guitar", "Horse Riding", "Skiing", "Making a sandwich",
    "Brushing Teeth", "Rock climbing", "Playing Piano", "Surfing", "Basketball Dunk",
]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def timed_cpu(fn) -> tuple[float, float]:
    """(wall, CPU) seconds. With one thread, CPU time is what the wall time would be on an idle core."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-labels", type=int, default=3, help="labels for the 48/30-template comparison "
                        "(full padding is slow: ~6 s per label on 2 idle cores)")
    args = parser.parse_args(argv)
    import torch  # here, so that --help answers at once

    torch.set_num_threads(args.threads)

    # Other processes competing for the cores slow every row down (2 threads wait on each other).
    print(f"{args.threads} threads, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    enc = load_encoders("random")
    print(f"load (random weights, same architectures): {time.perf_counter() - t:.1f} s")
    enc.embed_labels(["warm-up label"])  # first forwards allocate; a running app has done this already

    free = PROMPT_SETS["free-text"]
    seconds, cpu = timed_cpu(lambda: enc.embed_labels(NEW_LABELS))
    print(f"\n{len(NEW_LABELS)} new labels, 'free-text' set ({len(free.clip_templates)} CLIP + "
          f"{len(free.clap_templates)} CLAP templates): {seconds:.2f} s total, {seconds / len(NEW_LABELS) * 1e3:.0f} ms "
          f"per label (CPU time {cpu:.2f} s)")

    ref, labels = PROMPT_SETS["ucf-activitynet"], REFERENCE_LABELS[: args.reference_labels]
    print(f"\nreference set 'ucf-activitynet' ({len(ref.clip_templates)} CLIP / {len(ref.clap_templates)} CLAP "
          f"templates), {len(labels)} labels:")
    print(f"  {'tower':6} {'prompts':>7} {'full 77 (s)':>12} {'fast (s)':>9} {'speed-up':>9}   CPU time full / fast (s)")
    totals = [0.0, 0.0, 0.0, 0.0]  # wall full, wall fast, CPU full, CPU fast
    for name, tower, templates in (("CLIP", enc.clip, ref.clip_templates), ("CLAP", enc.clap, ref.clap_templates)):
        prompts = fill(templates, labels)
        full, full_cpu = timed_cpu(lambda: tower.encode_text_reference(prompts))
        fast, fast_cpu = timed_cpu(lambda: tower.encode_text(prompts))
        totals = [a + b for a, b in zip(totals, (full, fast, full_cpu, fast_cpu))]
        print(f"  {name:6} {len(prompts):7d} {full:12.2f} {fast:9.2f} {full / fast:8.1f}x   {full_cpu:.2f} / {fast_cpu:.2f}")
    full, fast, full_cpu, fast_cpu = totals
    print(f"  {'both':6} {'':7} {full:12.2f} {fast:9.2f} {full / fast:8.1f}x   {full_cpu:.2f} / {fast_cpu:.2f}"
          f"   ({fast / len(labels):.2f} s per label on the fast path)")

    runs = []
    for _ in range(200):
        runs.append(timed(lambda: enc.embed_labels(NEW_LABELS)))
    print(f"\ncached lookup of the {len(NEW_LABELS)} labels: median {statistics.median(runs) * 1e3:.3f} ms, "
          f"max {max(runs) * 1e3:.3f} ms over {len(runs)} runs")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
