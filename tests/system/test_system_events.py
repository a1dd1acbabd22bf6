"""Step events fanned out through the broker: fast subscribers get all of them in order; a subscriber
that stalls loses some at the high-water marks and is told exactly how many."""

from __future__ import annotations

import threading

import zmq

from .harness import SMALL_FIELD, EventTap

STEPS = 1200  # 2 events per step: more than the broker's and the sockets' queues hold for one stalled reader


def test_fast_subscribers_get_every_step_event_in_order_and_a_stalled_one_learns_how_many_it_missed(lab):
    lab.start_broker()
    lab.start_service()
    app = lab.connect()
    fast = [EventTap(app), EventTap(app)]
    slow = lab.connect()
    slow._connection.context.setsockopt(zmq.RCVHWM, 1)  # its event socket (made next) queues little
    slow._connection.context.setsockopt(zmq.RCVBUF, 4096)
    gate, received = threading.Event(), []

    def stalled() -> None:  # the first signal blocks the slow client's event thread until the run is over
        received.append(1)
        gate.wait(120)

    for kind in (slow.connect_begin, slow.connect_end):
        for flag in (0, 1):
            kind(stalled, flag)
    try:
        m = app.create_measurement()
        m.set_parameters("", SMALL_FIELD)
        m.set_parameters("steps/time_points", STEPS)
        assert app.run(m) == 0
    finally:
        gate.set()
    tail = app.create_measurement()  # one more run: its events show the slow client the gap at the end
    tail.set_parameters("", SMALL_FIELD)
    assert app.run(tail) == 0
    slow.events().sync()
    published = 2 * (STEPS + 1) + 2 * (1 + 1)  # begin/end of each run and of each step
    for tap in fast:
        tap.sync(app)
        assert tap.sequence() == list(range(tap.sequence()[0], tap.sequence()[0] + published))
        assert tap.steps("begin") == tap.steps("end") == [*range(STEPS), 0]
        tap.close()
    missed = slow.events().missed
    assert missed > 0, "the stalled subscriber lost nothing: the queues were larger than expected"
    assert len(received) + missed == published  # told exactly how many it missed
