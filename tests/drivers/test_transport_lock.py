"""One lock per transport: eight threads, 10 000 interleaved sets and queries with per-request tokens,
and not one reply delivered to the wrong caller."""

import random
import threading

from drivers import DeviceError, SerialTransport, VisaTransport

from .conftest import LoopbackLaser

THREADS = 8


def hammer(transport, operations, seed):
    """Run `operations` interleaved token echoes and set-then-query pairs from THREADS threads; count mismatches."""
    mismatches, failures = [], []

    def work(worker):
        rng = random.Random(seed + worker)
        try:
            for index in range(operations // THREADS):
                token = f"w{worker}-{index}-{rng.getrandbits(32):08x}"
                if rng.random() < 0.5:
                    reply = transport.query(f"ECHO? {token}")
                else:
                    with transport.lock:  # a set and its read-back are one critical section
                        transport.write(f"VAL {token}")
                        reply = transport.query("VAL?")
                if reply != token:
                    mismatches.append((token, reply))
        except Exception as error:  # surfaced below; a thread must not die silently
            failures.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return mismatches, failures


def test_ten_thousand_interleaved_requests_over_visa_get_their_own_replies(server):
    with VisaTransport(server.resource, timeout=5.0) as transport:
        mismatches, failures = hammer(transport, 10_000, seed=1234)
    assert failures == [] and mismatches == []
    handled = [line for line in server.instrument.log if line.startswith(("ECHO?", "VAL "))]
    assert len(handled) == 10_000


def test_interleaved_requests_over_a_pty_get_their_own_replies(pty_device):
    with SerialTransport(pty_device.link, timeout=5.0) as transport:
        mismatches, failures = hammer(transport, 2_000, seed=99)
    assert failures == [] and mismatches == []


def test_device_errors_are_attributed_to_the_set_that_caused_them(server):
    laser = LoopbackLaser(server.resource, name="laser", timeout=5.0).connect()
    outcomes = []

    def work(worker):
        rng = random.Random(500 + worker)
        for _ in range(60):
            frequency = rng.choice([1e3, 5e5, 2e6, 9e6])  # the instrument refuses anything above 1 MHz
            try:
                laser.parameters.set("frequency", frequency)
                outcomes.append((frequency, None))
            except DeviceError as error:
                outcomes.append((frequency, error))

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        laser.close()
    assert len(outcomes) == THREADS * 60
    for frequency, error in outcomes:
        if frequency > 1e6:
            assert error is not None and error.code == -222 and error.command == f"FREQ {frequency!r}"
        else:
            assert error is None, error
    assert server.instrument.errors == type(server.instrument.errors)()
