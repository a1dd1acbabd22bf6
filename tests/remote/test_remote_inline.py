"""A worker in the broker's own process: its quick requests are answered on the broker thread, the rest through
its socket, and it is registered, counted and removed like any other worker."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import msgpack
import pytest
import zmq

from specpy.remote import protocol as wire
from specpy.remote.broker import Broker
from specpy.remote.connection import Connection
from specpy.remote.errors import ServiceUnavailable
from specpy.remote.worker import Worker

from .harness import eventually


class InProcess:
    """A broker with inproc sockets and a worker `inline` whose handler answers `quick` at once, `stall` after
    `stalls` seconds, and anything else from a pool thread; `answered` names the thread each reply was made on."""

    def __init__(self) -> None:
        self.context = zmq.Context()
        self.broker = Broker("127.0.0.1", 0, heartbeat=0.2, context=self.context, inproc=True).start()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="slow")
        self.answered: list[str] = []
        self.stalls = 0.0
        self.worker = Worker("inline", lambda: (self.broker.inproc_workers, self.broker.inproc_events), self._handle,
                             self.context, heartbeat=0.2)
        self.broker.serve_inline(self.worker.instance, self.worker.serve_inline)
        self.worker.start()
        assert self.worker.connected.wait(10)
        self.connection = Connection("127.0.0.1", self.broker.port, "inline", timeout=5, retries=0)
        self._worker_running = True

    def _handle(self, client: bytes, rid: bytes, frames: list) -> None:
        request = wire.decode(frames[0], frames[1:])

        def reply() -> None:
            self.answered.append(threading.current_thread().name)
            self.worker.send_reply(client, rid, wire.encode(wire.result(request["id"], request["op"])))

        if request["op"] == "stall":
            time.sleep(self.stalls)
        if request["op"] in ("quick", "stall"):
            reply()
        else:
            self.pool.submit(reply)

    def stop_worker(self) -> None:
        """Stop the worker (it says goodbye to the broker)."""
        if self._worker_running:
            self._worker_running = False
            self.worker.stop()

    def close(self) -> None:
        """Stop everything this started."""
        self.connection.close()
        self.stop_worker()
        self.pool.shutdown(wait=True)
        self.broker.stop()
        self.context.term()


@pytest.fixture
def lab():
    """An in-process broker and worker, stopped after the test."""
    lab = InProcess()
    yield lab
    lab.close()


def test_quick_requests_are_answered_on_the_broker_thread_and_the_rest_through_the_worker_socket(lab):
    assert lab.connection.call("quick") == "quick"
    assert lab.answered == ["specpy-broker"]
    assert lab.connection.call("slow") == "slow"  # replied later, from a thread of the worker's own
    assert lab.answered[-1].startswith("slow")
    assert lab.connection.call("services", service="mmi") == {"inline": 1}
    assert all(not worker.pending for worker in lab.broker.workers.values())


def test_without_its_inline_handler_the_worker_takes_every_request_on_its_own_thread(lab):
    lab.broker.serve_inline(lab.worker.instance, None)
    assert lab.connection.call("quick") == "quick"
    assert lab.answered == ["specpy-worker inline"]


def test_a_worker_over_tcp_cannot_claim_the_in_process_worker_id(lab):
    impostor = lab.context.socket(zmq.DEALER)
    client = lab.context.socket(zmq.DEALER)
    try:
        impostor.connect(f"tcp://127.0.0.1:{lab.broker.worker_port}")
        info = msgpack.packb({"v": wire.VERSION, "heartbeat": 60, "worker": lab.worker.instance})
        impostor.send_multipart([wire.WORKER, wire.READY, b"inline", info])
        deadline = time.monotonic() + 10
        while lab.connection.call("services", service="mmi") != {"inline": 2}:
            assert time.monotonic() < deadline, "the second worker never registered"
        client.connect(f"tcp://127.0.0.1:{lab.broker.port}")
        for request_id in (1, 2):  # round-robin: one request for each worker
            header = wire.encode(wire.request(request_id, "quick", None, (), {}))
            client.send_multipart([wire.CLIENT, b"inline", wire.request_id_bytes(request_id), *header])
        assert impostor.poll(10_000)
        frames = impostor.recv_multipart()  # it was sent the request: not run with the real worker's handler
        assert frames[:2] == [wire.WORKER, wire.REQUEST]
        reply = wire.encode(wire.result(wire.decode(frames[4])["id"], "impostor"))
        impostor.send_multipart([wire.WORKER, wire.REPLY, frames[2], frames[3], *reply])
        results = set()
        for _ in range(2):
            assert client.poll(10_000)
            results.add(wire.decode(client.recv_multipart()[3])["result"])
        assert results == {"quick", "impostor"}
        assert lab.answered == ["specpy-broker"]
    finally:
        impostor.close(0)
        client.close(0)


def test_a_stopped_in_process_worker_is_unavailable_at_once(lab):
    lab.stop_worker()  # its goodbye reaches the broker; the inline handler is still registered
    deadline = time.monotonic() + 10
    while True:
        try:
            lab.connection.call("quick")
        except ServiceUnavailable:
            break
        assert time.monotonic() < deadline, "the stopped worker was still served"
    assert lab.connection.call("services", service="mmi") == {}


def test_after_an_inline_call_that_stalls_the_broker_its_reply_arrives_and_the_worker_registers_again(lab):
    lab.stalls = 1.0  # longer than the 3 x 0.2 s of silence either side allows: each takes the other for gone
    assert lab.connection.call("stall") == "stall"  # answered before the broker drops the worker, not lost
    assert eventually(lambda: lab.connection.call("quick")) == "quick"
    assert lab.connection.call("services", service="mmi") == {"inline": 1}
    assert lab.worker.registrations >= 2
