"""The web app's overhead: a warm classify call through gradio_client vs the same call on the service.

    python benchmarks/app_latency.py                          # random-weight encoders, no checkpoints
    python benchmarks/app_latency.py --encoders pretrained --checkpoints checkpoints --model NAME

Launches the app in this process (as app.py does, on a free port), warms both paths up, then alternates
direct `service.classify(...)` calls with `Client.predict(..., api_name="/classify")` calls on the same
video and labels. Besides the two medians it reports the overhead of each app call measured exactly:
the client's request-to-answer time minus the time the service spent inside that same request (upload,
queue, (de)serialisation, HTTP/SSE), which, unlike a difference of medians, does not depend on how
steady the encoders' own time is on a busy machine. Target: under 150 ms.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 150.0
LABELS = "bird chirping, car engine, playing drums, playing piano, fish in an aquarium, dog barking"


class TimedService:
    """The service, recording how long each classify call takes inside the app."""

    def __init__(self, service):
        self._service = service
        self.inner_ms: list[float] = []

    def classify(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self._service.classify(*args, **kwargs)
        finally:
            self.inner_ms.append(1000 * (time.perf_counter() - t0))

    def __getattr__(self, name):
        return getattr(self._service, name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoders", choices=["random", "pretrained"], default="random")
    p.add_argument("--checkpoints", help="checkpoints folder (default: an empty one)")
    p.add_argument("--model", default=None, help="model name (default: the training-free mode)")
    p.add_argument("--video", default=str(ROOT / "examples" / "bird.mp4"))
    p.add_argument("--labels", default=LABELS)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--check", action="store_true", help=f"exit 1 when the median overhead exceeds {TARGET_MS:.0f} ms")
    args = p.parse_args(argv)

    from gradio_client import Client, handle_file

    from app.maps import MapMaker
    from app.ui import build_demo, launch
    from avzsl.serving.service import TRAINING_FREE, create_service, parse_labels

    model = args.model or TRAINING_FREE
    labels = parse_labels(args.labels)  # the service takes a parsed list; the app parses the typed text
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        service = create_service(args.encoders, args.checkpoints or Path(tmp) / "checkpoints")
        service.encoders  # noqa: B018 - loaded on first use; the app does this in the background after launch
        print(f"service ready in {time.perf_counter() - t0:.1f} s ({args.encoders} encoders)")
        timed = TimedService(service)
        demo = build_demo(timed, maps=MapMaker(service))
        _, url, _ = launch(demo, host="127.0.0.1", port=free_port(), prevent_thread_lock=True, quiet=True)
        try:
            client = Client(url, verbose=False)
            video = handle_file(args.video)

            def through_app():
                t = time.perf_counter()
                result = client.predict(video, args.labels, model, api_name="/classify")
                return 1000 * (time.perf_counter() - t), result

            def direct():
                t = time.perf_counter()
                result = service.classify(args.video, labels, model=model)
                return 1000 * (time.perf_counter() - t), result

            direct(), through_app()  # warm: label embeddings cached, code paths and connections opened
            app_ms, direct_ms, overhead_ms = [], [], []
            for _ in range(args.repeats):
                ms, _ = direct()
                direct_ms.append(ms)
                before = len(timed.inner_ms)
                ms, result = through_app()
                app_ms.append(ms)
                overhead_ms.append(ms - sum(timed.inner_ms[before:]))
            assert len(result["ranking"]) == len(labels)
        finally:
            demo.close()

    med = statistics.median
    print(f"\nwarm classify of {Path(args.video).name} with {len(result['ranking'])} labels, model {model!r}, "
          f"{args.repeats} calls each:")
    print(f"  direct on the service : median {med(direct_ms):7.1f} ms   (min {min(direct_ms):.1f}, max {max(direct_ms):.1f})")
    print(f"  through gradio_client : median {med(app_ms):7.1f} ms   (min {min(app_ms):.1f}, max {max(app_ms):.1f})")
    print(f"  difference of medians : {med(app_ms) - med(direct_ms):7.1f} ms   (includes the encoders' own jitter)")
    print(f"  app overhead per call : median {med(overhead_ms):7.1f} ms   (min {min(overhead_ms):.1f}, "
          f"max {max(overhead_ms):.1f}; request-to-answer minus the service's time in that request)")
    ok = med(overhead_ms) < TARGET_MS
    print(f"  target < {TARGET_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
