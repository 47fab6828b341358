"""Training admission (``ui.admission``): at most N trainings at once, the others in line.

With the limit at 1: a second training waits and starts exactly when the first ends; leaving the
line works (directly, or by the stop Streamlit raises when the student presses "Leave the
queue" or closes the tab) and moves everybody behind up; a training that raises gives its slot
back; no order of events leaks a slot. Threads stand in for sessions; events are ordered by
``threading.Event``, never by timing.
"""

from __future__ import annotations

import threading

import pytest

from ui.admission import Admission, Cancelled, default_limit, wait_message

pytestmark = pytest.mark.timeout(60)


def test_limit_one_queues_the_second_until_the_first_ends():
    adm = Admission(1)
    a, b, c = adm.enqueue("a"), adm.enqueue("b"), adm.enqueue("c")
    assert (a.place, b.place, c.place) == (0, 1, 2)
    assert adm.running == 1 and adm.waiting == 2
    assert b.wait(0.01) is False                    # still in line
    a.release()
    assert (a.place, b.place, c.place) == (None, 0, 1)
    assert b.wait(0) is True
    b.release()
    assert c.place == 0 and adm.running == 1 and adm.waiting == 0
    c.release()
    assert adm.running == 0


def test_the_limit_admits_that_many_at_once():
    adm = Admission(3)
    ts = [adm.enqueue() for _ in range(5)]
    assert [t.place for t in ts] == [0, 0, 0, 1, 2]
    ts[1].release()
    assert [t.place for t in ts] == [0, None, 0, 0, 1]


def test_a_second_training_starts_when_the_first_ends():
    adm = Admission(1)
    log: list[str] = []
    first_in, first_may_end = threading.Event(), threading.Event()
    second_waiting = threading.Event()

    def first():
        with adm.admitted("first"):
            log.append("first starts")
            first_in.set()
            first_may_end.wait(10)
            log.append("first ends")

    def second():
        first_in.wait(10)
        with adm.admitted("second", waiting=lambda place, running: second_waiting.set(),
                          poll_s=0.01):
            log.append("second starts")

    th = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in th:
        t.start()
    assert second_waiting.wait(10)                 # it saw its place in line …
    assert log == ["first starts"]                 # … and did not start
    first_may_end.set()
    for t in th:
        t.join(10)
    assert log == ["first starts", "first ends", "second starts"]
    assert adm.running == 0 and adm.waiting == 0


def test_cancelling_from_the_queue():
    adm = Admission(1)
    a, b, c = adm.enqueue(), adm.enqueue(), adm.enqueue()
    raised = []
    blocked = threading.Thread(target=lambda: raised.append(_wait_for(b)))
    blocked.start()
    b.cancel()
    blocked.join(10)
    assert raised == ["cancelled"]
    assert b.place is None and c.place == 1 and adm.waiting == 1
    a.release()
    assert c.place == 0 and b.state == "cancelled"     # the cancelled one never runs
    b.release()                                        # releasing it again changes nothing
    assert adm.running == 1


def _wait_for(t) -> str:
    try:
        t.wait(10)
        return "admitted"
    except Cancelled:
        return "cancelled"


def test_a_stop_while_in_line_leaves_the_line():
    """Streamlit stops a run (Leave the queue, a widget change, a closed tab) by raising out
    of the next page update, i.e. out of ``waiting``."""
    class Stop(Exception):
        pass

    adm = Admission(1)
    holder = adm.enqueue("someone else's")
    calls = []

    def waiting(place, running):
        calls.append((place, running))
        if len(calls) == 2:
            raise Stop

    with pytest.raises(Stop):
        with adm.admitted("mine", waiting=waiting, poll_s=0.001):
            pytest.fail("admitted while the slot was taken")
    assert calls == [(1, 1), (1, 1)]
    assert adm.waiting == 0
    holder.release()
    assert adm.running == 0                 # nobody (the stopped one least) holds the slot


def test_a_raising_training_frees_its_slot():
    adm = Admission(1)
    with pytest.raises(ZeroDivisionError):
        with adm.admitted():
            1 / 0
    assert adm.running == 0
    nxt = adm.enqueue()
    assert nxt.place == 0


def test_no_sequence_of_events_leaks_a_slot():
    adm = Admission(2)
    ts = [adm.enqueue(str(i)) for i in range(6)]
    for i in (4, 0, 5, 0, 2, 1, 3, 3, 2):           # releases and cancels, some twice
        (ts[i].cancel if i % 2 else ts[i].release)()
    assert adm.running == 0 and adm.waiting == 0
    assert all(t.place is None for t in ts)


def test_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv("ADAMEM_MAX_TRAININGS", "3")
    assert default_limit() == 3
    for bad in ("0", "-2", "many", ""):
        monkeypatch.setenv("ADAMEM_MAX_TRAININGS", bad)
        assert default_limit() >= 1
    with pytest.raises(ValueError):
        Admission(0)


def test_the_message_names_the_place():
    m = wait_message(3, 1, 1, "MLP training")
    assert "number 3" in m and "2 ahead" in m and "Leave the queue" in m and "at most 1 " in m
    assert "(next)" in wait_message(1, 2, 2)


# ----------------------------------------------------------------------------- the MLP lab
TINY = {"m_n": "100", "m_steps": "30", "m_opt": "am_sgd,sgd_ema:0.9", "m_hidden": "8"}


@pytest.mark.timeout(300)
def test_the_mlp_lab_waits_for_the_slot_another_session_holds(new_app, monkeypatch):
    """Limit 1, the slot taken by another session: Train waits in line (the server sees it
    waiting, nothing trains), starts when the slot is given back, and gives its own back."""
    import ui.admission as A

    monkeypatch.setenv("ADAMEM_MAX_TRAININGS", "1")
    A._server_admission.clear()
    adm = A.server_admission()
    assert adm.limit == 1
    other = adm.enqueue("another session's training")
    seen_waiting = threading.Event()

    def give_back_once_queued():
        for _ in range(2400):                      # the page's ticket enters the line …
            if adm.waiting == 1:
                seen_waiting.set()
                assert adm.running == 1            # … while only the other one runs
                other.release()
                return
            threading.Event().wait(0.05)

    at = new_app(timeout=240)
    at.run()
    at.switch_page("app_pages/mlp_lab.py")
    for k, v in TINY.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    helper = threading.Thread(target=give_back_once_queued)
    helper.start()
    at.button(key="ml_train").click()
    at.run()
    helper.join(10)
    assert not at.exception, [e.message for e in at.exception]
    assert seen_waiting.is_set()
    assert any(c for c in at.get("plotly_chart"))            # it trained after the wait
    assert adm.running == 0 and adm.waiting == 0             # and gave the slot back
    A._server_admission.clear()
