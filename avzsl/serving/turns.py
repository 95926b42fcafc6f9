"""A lock that is granted in the order it was asked for: work split into turns is shared fairly.

    lane = Turns()
    with lane:          # waits for every earlier `with lane:` to finish, then runs alone
        ...

A plain `threading.Lock` lets a thread that releases it take it straight back, so a request working in
many short pieces could keep it for minutes; here every piece queues behind the pieces already waiting.
The prediction service runs label-text embedding as such pieces (LABELS_PER_TURN labels each, see
avzsl/encoders/loader.py), so a small request waits for one piece of a large one, never for all of it.
A waiter that fails (an interrupt, a cancelled request) gives up its ticket: those behind it are served.
Not reentrant.

In front of the lanes, `PerClient` admits at most a few jobs of each client at a time, so no client can fill
the shared queue and the lanes with its own work:

    admission = PerClient(limit=2)
    with admission.admit(session_id):   # Busy (refused at once) when that client already has 2 jobs running
        ...
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

from avzsl.io import AvzslError


class Turns:
    def __init__(self):
        self._changed = threading.Condition()
        self._next_ticket = 0  # handed to the next thread that asks
        self._serving = 0  # the ticket whose holder may run now
        self._given_up: set[int] = set()  # tickets of waiters that failed, skipped when their turn comes

    def __enter__(self) -> Turns:
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            try:
                self._changed.wait_for(lambda: self._serving == ticket)
            except BaseException:
                self._given_up.add(ticket)
                self._pass_on()  # it may be this ticket's turn already
                raise
        return self

    def __exit__(self, *exc) -> None:
        with self._changed:
            self._serving += 1
            self._pass_on()

    def _pass_on(self) -> None:
        """Skip the tickets given up and wake the waiters (the lock held)."""
        while self._serving in self._given_up:
            self._given_up.remove(self._serving)
            self._serving += 1
        self._changed.notify_all()

    @property
    def waiting(self) -> int:
        """Threads queued or running (for tests and logs)."""
        with self._changed:
            return self._next_ticket - self._serving - len(self._given_up)


class Busy(AvzslError):
    """A client sent a job while it already had its share running; the message says what to do."""


class PerClient:
    """At most `limit` jobs of one client at a time; a client's job beyond them is refused at once, not queued,
    so that it leaves its place in the shared queue to other clients."""

    def __init__(self, limit: int):
        self.limit = limit
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def admit(self, client: str | None):
        """Run one job of `client` (None: a caller inside this process, never limited)."""
        with self._lock:
            if client is not None and self._running[client] >= self.limit:
                raise Busy(f"You already have {self.limit} classifications running: send the next one when one of "
                           "them has finished.")
            self._running[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[client] -= 1
                if not self._running[client]:
                    del self._running[client]
