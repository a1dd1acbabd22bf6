"""A line-oriented TCP server on 127.0.0.1 (one thread per client) with wire faults and
unplug/replug; the transport under every SCPI instrument."""

from __future__ import annotations

import select
import socket
import sys
import threading
from collections.abc import Callable

from device_sim.faults import Faults
from device_sim.streamed import Streamed

MAX_LINE = 1 << 20  # a client that sends a megabyte without a newline is cut off


class TcpServer:
    """Serve `process(line) -> reply | None` for newline-terminated lines on 127.0.0.1:port."""

    def __init__(self, process: Callable[[bytes], bytes | Streamed | None], faults: Faults | None = None,
                 port: int = 0) -> None:
        """Keep the line handler; port 0 picks a free port (read `port` after start())."""
        self.process = process
        self.faults = faults or Faults()
        self.port = port
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._running = False
        self._serving = threading.local()  # the connection this thread serves

    @property
    def running(self) -> bool:
        """False once unplugged or stopped (long waits in handlers give up then)."""
        return self._running

    @property
    def address(self) -> str:
        """The VISA resource string of this endpoint."""
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def start(self) -> None:
        """Listen (on the same port again after an unplug) and accept clients in a thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(8)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
            self._running = True
        self._spawn(self._accept, listener)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"sim-tcp-{self.port}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._running and self._listener is listener:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(0.1)
            with self._lock:
                self._clients.add(conn)
            self._spawn(self._serve, conn)

    def client_gone(self) -> bool:
        """Whether the client whose command this thread executes has hung up (a handler waiting for an event may
        then give up: nobody will read its reply)."""
        conn = getattr(self._serving, "conn", None)
        if conn is None:
            return False
        try:  # select first: a socket with a timeout would wait that long in recv, MSG_DONTWAIT or not
            return bool(select.select([conn], [], [], 0)[0]) and conn.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        self._serving.conn = conn
        try:
            while self._running:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self._answer(conn, line.rstrip(b"\r"))
                if len(buffer) > MAX_LINE:
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._clients.discard(conn)
            conn.close()

    def _answer(self, conn: socket.socket, line: bytes) -> None:
        try:
            reply = self.process(line)
        except Exception as exc:  # the server must outlive any handler bug
            print(f"device_sim: handler failed on {line[:80]!r}: {exc!r}", file=sys.stderr)
            return
        if reply is None:
            return
        delivered = self.faults.apply(reply, keep_tail=1)
        if isinstance(delivered, Streamed):
            try:
                for piece in delivered:  # each piece goes out as soon as it is produced
                    conn.sendall(piece)
            except OSError:
                raise
            except Exception as exc:  # half a reply is out: only dropping the connection keeps the client in step
                print(f"device_sim: reply to {line[:80]!r} failed: {exc!r}", file=sys.stderr)
                raise ConnectionAbortedError(str(exc)) from exc
        elif delivered is not None:
            conn.sendall(delivered)

    def unplug(self) -> None:
        """Pull the cable: close the listener and every connection (clients see a reset/EOF)."""
        with self._lock:
            self._running = False
            listener, self._listener = self._listener, None
            clients, self._clients = list(self._clients), set()
        if listener is not None:
            listener.close()
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._join()

    def replug(self) -> None:
        """Plug back in: listen again on the same port (clients must reconnect)."""
        self.start()

    def stop(self) -> None:
        """Close everything and join every thread."""
        self.unplug()

    def _join(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
