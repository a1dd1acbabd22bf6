"""Step events fanned out through the broker: fast subscribers get all of them in order; a subscriber
that stalls loses some at the high-water marks and is told exactly how many."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from functools import partial

import zmq

from specpy.remote.errors import ServiceLost, ServiceUnavailable
from tests.remote.harness import eventually

from .harness import HEARTBEAT, LIVENESS, SMALL_FIELD, EventTap

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
    # the newest events were dropped for it, so no later signal shows it a gap: the sync tells it how many
    slow.events().sync()
    published = 2 * (STEPS + 1)  # begin/end of the run and of each step
    for tap in fast:
        tap.sync(app)
        assert tap.sequence() == list(range(tap.sequence()[0], tap.sequence()[0] + published))
        assert tap.steps("begin") == tap.steps("end") == [*range(STEPS)]
        tap.close()
    missed = slow.events().missed
    assert missed > 0, "the stalled subscriber lost nothing: the queues were larger than expected"
    assert len(received) + missed == published  # told exactly how many it missed


@contextmanager
def paused(process: subprocess.Popen):
    """SIGSTOP the process for the block: it stays connected but sends nothing."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def test_the_event_thread_subscribes_again_when_the_broker_is_silent_not_when_its_own_callback_was_slow(lab):
    """While a callback runs the thread hears nothing; afterwards it must not resubscribe (and drop what its
    socket holds) because the last heartbeat it handled is old. A broker silent that long is looked up again."""
    lab.start_broker()
    lab.start_service()
    app, slow = lab.connect(), lab.connect()
    entered, gate = threading.Event(), threading.Event()
    slow.connect_end(lambda: entered.set() or gate.wait(30), 0)
    m = app.create_measurement()
    m.set_parameters("", SMALL_FIELD)
    assert app.run(m) == 0
    assert entered.wait(10)
    silent = 2 * HEARTBEAT * LIVENESS
    try:
        with paused(lab.broker.process):  # no heartbeats queue up behind the callback
            time.sleep(silent)
            gate.set()  # the callback returns while the broker is still silent, but only briefly
            time.sleep(HEARTBEAT)
    finally:
        gate.set()
    # events flow again; the pause outlasted the service's liveness too, so it may be registering again
    sync = partial(eventually, slow.events().sync, retry_on=(ServiceUnavailable, ServiceLost))
    sync()
    assert slow.events().resubscriptions == 0
    with paused(lab.broker.process):
        time.sleep(silent)
    sync()
    assert slow.events().resubscriptions == 1
