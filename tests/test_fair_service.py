"""Fair service: a small request is not stuck behind a huge one (avzsl/serving/turns.py, the service's two lanes).

No timing is asserted: a large request is held inside its label embedding by the test itself, and the
small one must finish meanwhile. benchmarks/fair_queue.py measures the times. Every wait has a deadline
(WAIT), so a broken lane fails the test instead of hanging the suite.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from avzsl.encoders.loader import LABELS_PER_TURN
from avzsl.serving.turns import Turns
from tests.helpers import EXAMPLES, running_app

WAIT = 120  # seconds: only reached when the behaviour under test is broken


def wait_until(condition, what: str) -> None:
    """Poll `condition` until it holds; fail after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT} s for {what}"
        time.sleep(0.01)


def join_all(threads) -> None:
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive(), f"{t.name} still waits after {WAIT} s"


def test_turns_are_granted_in_the_order_they_were_asked_for():
    lane, order = Turns(), []
    first_holds = threading.Event()
    release_first = threading.Event()

    def take(name, hold=None):
        with lane:
            if hold:
                first_holds.set()
                release_first.wait(WAIT)
            order.append(name)

    threads = [threading.Thread(target=take, args=("first", True))]
    threads[0].start()
    first_holds.wait(WAIT)
    for i, name in enumerate(("second", "third", "fourth")):
        threads.append(threading.Thread(target=take, args=(name,)))
        threads[-1].start()
        wait_until(lambda: lane.waiting >= i + 2, f"{name} to queue")  # queued before the next one asks
    release_first.set()
    join_all(threads)
    assert order == ["first", "second", "third", "fourth"]


def test_each_client_is_admitted_its_share_of_jobs():
    from avzsl.serving.turns import Busy, PerClient

    admission = PerClient(limit=2)
    with admission.admit("a"), admission.admit("a"):
        with pytest.raises(Busy, match="already have 2"):
            with admission.admit("a"):
                pass
        with admission.admit("b"), admission.admit(None), admission.admit(None), admission.admit(None):
            pass  # other clients, and callers inside the process, are not held back by "a"
    with admission.admit("a"):  # a finished job frees its place
        pass


def test_a_waiter_that_fails_gives_up_its_turn():
    """A request interrupted while it waits (here: its wait raises) must not block those behind it."""
    lane, order, failures = Turns(), [], []
    real_wait = lane._changed.wait_for

    def wait_for(predicate, timeout=None):
        if threading.current_thread().name.startswith("impatient"):
            while lane.waiting < 3:  # fails only once the one after it is queued
                lane._changed.wait(0.01)
            raise KeyboardInterrupt
        return real_wait(predicate, timeout)

    lane._changed.wait_for = wait_for

    def take(name):
        try:
            with lane:
                order.append(name)
        except KeyboardInterrupt:
            failures.append(name)

    with lane:  # held while the others queue
        threads = [threading.Thread(target=take, args=(name,), name=name, daemon=True)  # a stuck one ends with pytest
                   for name in ("impatient", "patient")]
        threads[0].start()
        wait_until(lambda: lane.waiting >= 2, "the impatient one to queue")
        threads[1].start()
        join_all(threads[:1])
    join_all(threads)
    assert failures == ["impatient"] and order == ["patient"] and lane.waiting == 0
    with lane:  # and the lane still works
        order.append("later")
    assert order == ["patient", "later"]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from avzsl.serving.service import create_service

    return create_service("random", tmp_path_factory.mktemp("none"),
                          label_cache_dir=tmp_path_factory.mktemp("labels"))


@pytest.fixture(scope="module")
def app_url(service, tmp_path_factory):
    """One running app over the module's service: the tests patch the service, which the app calls per request."""
    with running_app(service, tmp_path_factory.mktemp("app")) as (_, url):
        yield url


class HeldTextTower:
    """Wraps a text tower: records which request each text forward serves; holds the large request's first
    forward until `release` is set (the test then knows it is in the middle of its label embedding)."""

    def __init__(self, tower, monkeypatch):
        self.real = tower.encode_text
        self.calls: list[str] = []
        self.large_started, self.release = threading.Event(), threading.Event()
        monkeypatch.setattr(tower, "encode_text", self.encode_text)

    def encode_text(self, texts):
        who = "large" if any("large-" in t for t in texts) else "small"
        self.calls.append(who)
        if who == "large" and not self.large_started.is_set():
            self.large_started.set()
            self.release.wait(WAIT)
        return self.real(texts)


def new_labels(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{uuid.uuid4().hex[:8]} {i}" for i in range(n)]


def test_new_labels_of_a_small_request_get_in_between_the_pieces_of_a_large_one(service, monkeypatch):
    encoders = service.encoders
    tower = HeldTextTower(encoders.clip, monkeypatch)
    large = new_labels("large", 3 * LABELS_PER_TURN)
    done = {}
    big = threading.Thread(target=lambda: done.setdefault("large", service.classify(EXAMPLES / "bird.mp4", large)))
    small = threading.Thread(target=lambda: done.setdefault("small", service.classify(EXAMPLES / "car.mp4",
                                                                                      new_labels("small", 2))))
    try:
        big.start()
        assert tower.large_started.wait(WAIT)
        small.start()
        wait_until(lambda: service._label_lane.waiting >= 2, "the small request to queue behind the large one's turn")
    finally:
        tower.release.set()
    join_all([big, small])
    assert tower.calls == ["large", "small", "large", "large"]  # one piece of the large request, then the small
    assert len(done["large"].ranking) == len(large) and len(done["small"].ranking) == 2


def test_through_the_app_a_small_request_finishes_while_a_large_one_runs(service, app_url, monkeypatch):
    from gradio_client import Client, handle_file

    small_labels = "dog barking, car engine"
    service.classify(EXAMPLES / "car.mp4", small_labels.split(", "))  # cached labels, as in the benchmark
    tower = HeldTextTower(service.encoders.clip, monkeypatch)
    client = Client(app_url, verbose=False)
    try:
        large = client.submit(handle_file(str(EXAMPLES / "bird.mp4")), ", ".join(new_labels("large", 20)),
                              api_name="/classify")
        assert tower.large_started.wait(WAIT)
        answer = {}
        small = threading.Thread(target=lambda: answer.setdefault("small", client.predict(
            handle_file(str(EXAMPLES / "car.mp4")), small_labels, api_name="/classify")))
        small.start()
        small.join(WAIT)
        assert not small.is_alive(), "the small request waited for the large one"
        assert not large.done()  # still held in its label embedding: the small one did not wait for it
    finally:
        tower.release.set()
    assert len(large.result(timeout=WAIT)["ranking"]) == 20
    assert [s["label"] for s in answer["small"]["ranking"]] != [] and "small" not in tower.calls  # labels were cached


def test_the_moments_of_a_small_request_get_in_between_those_of_a_large_one(service, monkeypatch):
    """A request for many moments embeds them MOMENTS_PER_TURN per turn of the media lane; a one-moment request
    sent meanwhile is embedded after one turn of it, not after all of them."""
    from avzsl.serving.service import MOMENTS_PER_TURN

    encoders = service.encoders
    real, calls = encoders.embed_images, []
    large_started, release = threading.Event(), threading.Event()

    def embed_images(frames):
        who = threading.current_thread().name  # the request's thread: "large" or "small"
        calls.append(who)
        if who == "large" and not large_started.is_set():
            large_started.set()
            release.wait(WAIT)
        return real(frames)

    monkeypatch.setattr(encoders, "embed_images", embed_images)
    moments = 8
    done = {}
    big = threading.Thread(target=lambda: done.setdefault(
        "large", service.classify(EXAMPLES / "scenes.mp4", ["dog", "cat"], segments=moments)), name="large", daemon=True)
    small = threading.Thread(target=lambda: done.setdefault(
        "small", service.classify(EXAMPLES / "car.mp4", ["dog", "cat"])), name="small", daemon=True)
    try:
        big.start()
        assert large_started.wait(WAIT)
        small.start()
        wait_until(lambda: service._media_lane.waiting >= 2, "the small request to queue for the media lane")
    finally:
        release.set()
    join_all([big, small])
    assert calls[:2] == ["large", "small"], calls  # one turn of the large request, then the small one
    assert MOMENTS_PER_TURN < moments and calls[2:] == ["large"] * (len(calls) - 2) and len(calls) > 2, calls
    assert len(done["large"].segments) == moments and len(done["small"].segments) == 1


def test_one_client_cannot_hold_more_than_its_share(service, app_url, monkeypatch):
    """A client with JOBS_PER_CLIENT requests running is refused the next at once; another client is served."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from app.handlers import JOBS_PER_CLIENT

    real, held, release = service.classify, threading.Semaphore(0), threading.Event()

    def classify(path, labels, **kwargs):
        if "hold" in labels:  # the greedy client's requests stay in the service until released
            held.release()
            release.wait(WAIT)
        return real(path, labels, **kwargs)

    monkeypatch.setattr(service, "classify", classify)
    video = handle_file(str(EXAMPLES / "car.mp4"))
    greedy, other = Client(app_url, verbose=False), Client(app_url, verbose=False)

    try:
        jobs = [greedy.submit(video, "hold, dog", api_name="/classify") for _ in range(JOBS_PER_CLIENT)]
        for _ in jobs:
            assert held.acquire(timeout=WAIT)
        with pytest.raises(AppError, match=f"already have {JOBS_PER_CLIENT} classifications running"):
            greedy.predict(video, "hold, dog", api_name="/classify")
        answer = other.predict(video, "dog, cat", api_name="/classify")
        assert len(answer["ranking"]) == 2 and not any(job.done() for job in jobs)
    finally:
        release.set()
    assert all(len(job.result(timeout=WAIT)["ranking"]) == 2 for job in jobs)
    assert len(greedy.predict(video, "hold, dog", api_name="/classify")["ranking"]) == 2  # its turn again
