"""The rig's control channel: JSON lines on 127.0.0.1 so that faults can be injected into a
running `python -m device_sim` from another process (`python -m device_sim fault ...`)."""

from __future__ import annotations

import json
import socket
from typing import Any

from device_sim.tcp_server import TcpServer


class ControlServer:
    """Serve {"instrument": name, "fault": kind, "value": v} and {"command": "addresses"}."""

    def __init__(self, rig: Any, port: int = 0) -> None:
        """Control `rig` (a started Rig) on 127.0.0.1:`port` (0 picks one)."""
        self.rig = rig
        self.server = TcpServer(self.process, port=port)

    @property
    def endpoint(self) -> str:
        """host:port of the control channel."""
        return f"127.0.0.1:{self.server.port}"

    def process(self, line: bytes) -> bytes:
        """One JSON request -> one JSON reply ({"ok": ...} or {"error": "..."})."""
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            if request.get("command") == "addresses":
                reply: dict[str, Any] = {"ok": self.rig.addresses()}
            else:
                self.rig.inject(str(request["instrument"]), str(request["fault"]), request.get("value"))
                reply = {"ok": True}
        except (ValueError, KeyError, TypeError, RuntimeError, OSError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        return json.dumps(reply).encode() + b"\n"


def request(endpoint: str, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to a control channel at host:port and return the decoded reply."""
    host, _, port = endpoint.rpartition(":")
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply)
