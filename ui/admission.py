"""Training admission: at most N trainings (MLP runs, sweeps) at once per server, the others wait
in line with a visible place and can leave it.

Every training in one Streamlit server shares its cores (and the interpreter lock) with every
other session: three trainings at once made every student's Playground 1.5–2.5× slower. A server
therefore admits at most ``limit`` trainings at a time (``ADAMEM_MAX_TRAININGS``, default: the
CPU cores this process may use), first come first served.

    from ui.admission import admitted
    with admitted("MLP training", waiting=show_place) as ticket:   # waits its turn
        result = train(...)

``admitted`` waits in short slices and calls ``waiting(place, ahead_running)`` between them (the
page shows the place, and a Streamlit stop or rerun — the student pressed "Leave the queue",
changed a widget or closed the tab — raises out of that call); whatever ends the block (done,
an exception, a stop) gives the slot or the place in line back. Nothing is leaked: the only
state is the one server-wide :class:`Admission` held by ``st.cache_resource``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

import streamlit as st

ENV_LIMIT = "ADAMEM_MAX_TRAININGS"


def default_limit() -> int:
    """``ADAMEM_MAX_TRAININGS`` when set to a positive integer, else the usable CPU cores."""
    raw = os.environ.get(ENV_LIMIT, "").strip()
    if raw:
        try:
            n = int(raw)
            if n >= 1:
                return n
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Cancelled(Exception):
    """The ticket left the line before it was admitted."""


class Ticket:
    """One training's claim: waiting (``place`` ≥ 1), running (``place`` 0) or done (None)."""

    def __init__(self, owner: "Admission", number: int, label: str):
        self._adm = owner
        self.number = number
        self.label = label
        self.state = "waiting"          # waiting → running → done; waiting → cancelled

    @property
    def place(self) -> int | None:
        return self._adm.place(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until admitted (True), cancelled (raises :class:`Cancelled`) or ``timeout``
        seconds passed (False)."""
        return self._adm._wait(self, timeout)

    def cancel(self) -> None:
        self._adm._finish(self, "cancelled")

    def release(self) -> None:
        self._adm._finish(self, "done")


class Admission:
    """A first-come-first-served gate for at most ``limit`` concurrent trainings.

    Thread-safe; one instance per server (see :func:`server_admission`)."""

    def __init__(self, limit: int):
        if int(limit) < 1:
            raise ValueError(f"limit must be ≥ 1, got {limit!r}")
        self.limit = int(limit)
        self._cv = threading.Condition()
        self._queue: deque[Ticket] = deque()
        self._running: list[Ticket] = []
        self._numbers = itertools.count(1)

    # ------------------------------------------------------------------ queries
    @property
    def running(self) -> int:
        with self._cv:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._cv:
            return len(self._queue)

    def place(self, ticket: Ticket) -> int | None:
        """0 while running, k ≥ 1 for the k-th in line, None once done or cancelled."""
        with self._cv:
            if ticket.state == "running":
                return 0
            if ticket.state == "waiting":
                return self._queue.index(ticket) + 1
            return None

    # ------------------------------------------------------------------ changes
    def enqueue(self, label: str = "training") -> Ticket:
        """A new ticket at the end of the line, admitted at once if a slot is free."""
        with self._cv:
            t = Ticket(self, next(self._numbers), label)
            self._queue.append(t)
            self._admit()
            return t

    def _admit(self) -> None:            # with the lock held
        while self._queue and len(self._running) < self.limit:
            t = self._queue.popleft()
            t.state = "running"
            self._running.append(t)
        self._cv.notify_all()

    def _wait(self, t: Ticket, timeout: float | None) -> bool:
        with self._cv:
            ok = self._cv.wait_for(lambda: t.state != "waiting", timeout)
            if t.state == "cancelled":
                raise Cancelled(t.label)
            return ok and t.state == "running"

    def _finish(self, t: Ticket, how: str) -> None:
        """Idempotent: a ticket leaves the line or gives its slot back exactly once."""
        with self._cv:
            if t.state == "waiting":
                self._queue.remove(t)
                t.state = "cancelled" if how == "cancelled" else "done"
            elif t.state == "running":
                self._running.remove(t)
                t.state = "done"
            self._admit()

    @contextmanager
    def admitted(self, label: str = "training",
                 waiting: Callable[[int, int], None] | None = None,
                 poll_s: float = 0.25) -> Iterator[Ticket]:
        """Wait for a slot, hold it for the block, give it back however the block ends.

        ``waiting(place, running)`` is called while in line (place ≥ 1) every ``poll_s``
        seconds; an exception it raises (a Streamlit stop or rerun) leaves the line."""
        t = self.enqueue(label)
        try:
            while not t.wait(poll_s):
                if waiting is not None:
                    p = t.place
                    if p:
                        waiting(p, self.running)
            yield t
        finally:
            t.release()


# ----------------------------------------------------------------------------- the server's one
@st.cache_resource(show_spinner=False, max_entries=1)
def _server_admission(limit: int) -> Admission:
    return Admission(limit)


def server_admission() -> Admission:
    """The server-wide admission object (one per server process, held by
    ``st.cache_resource``), admitting :func:`default_limit` trainings at once."""
    return _server_admission(default_limit())


def wait_message(place: int, running: int, limit: int, label: str = "training") -> str:
    ahead = place - 1
    return (f"⏳ Waiting for a free training slot: this server runs at most {limit} "
            f"training{'s' if limit != 1 else ''} at a time ({running} running now). You are "
            f"**number {place}** in the queue"
            + (f" ({ahead} ahead of you)." if ahead else " (next).")
            + f" Your {label} starts by itself; press “Leave the queue” to cancel it.")


@contextmanager
def admitted(label: str = "training", key: str = "adm",
             adm: Admission | None = None) -> Iterator[Ticket]:
    """The Streamlit side of :meth:`Admission.admitted`, around one training call.

    While in line the page shows the place (redrawn every half second: that redraw is also
    where Streamlit stops this run when the student leaves) and a “Leave the queue” button (a
    click reruns the page, which stops this run and so leaves the line); once admitted both
    disappear and the block runs."""
    adm = adm or server_admission()
    msg, btn = st.empty(), st.empty()
    drawn = {"button": False}

    def waiting(place: int, running: int) -> None:
        msg.info(wait_message(place, running, adm.limit, label))
        if not drawn["button"]:
            drawn["button"] = True
            btn.button("Leave the queue", key=f"{key}_leave")

    with adm.admitted(label, waiting=waiting, poll_s=0.5) as t:
        msg.empty()
        btn.empty()
        yield t
