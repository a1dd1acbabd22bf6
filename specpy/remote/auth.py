"""CURVE keys and ZAP: key files (`specpy keys new/allow`), the client-key allowlist, socket set-up.

Key files are pyzmq's certificate files (NAME.key holds the public key, NAME.key_secret both).
No key, public or secret, is ever written to a log.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket as socket_module
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from ..errors import Error

ZAP_DOMAIN = "specpy"
_zap_log = logging.getLogger("specpy.remote.zap")
_zap_log.setLevel(logging.INFO)  # pyzmq's authenticator logs client keys at DEBUG: never let them through


class KeyFileError(Error, ValueError):
    """A key file that is missing, unreadable or not a CURVE certificate."""


@dataclass(frozen=True)
class KeyPair:
    """A CURVE key pair (z85 bytes); `secret` is None for a public-only certificate."""

    public: bytes
    secret: bytes | None

    def __repr__(self) -> str:  # never show key material
        return f"<KeyPair {'with' if self.secret else 'without'} secret>"


def keys_directory() -> Path:
    """Where `specpy keys` keeps key files: $SPECPY_KEYS or ~/.config/specpy/keys."""
    if os.environ.get("SPECPY_KEYS"):
        return Path(os.environ["SPECPY_KEYS"])
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "specpy" / "keys"


def new_keys(name: str, directory: Path | None = None) -> tuple[Path, Path]:
    """Create NAME.key (public, to share) and NAME.key_secret (private, mode 0600); never overwrite."""
    directory = Path(directory or keys_directory())
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"a key name is a plain file name, not {name!r}")
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    if public.exists() or secret.exists():
        raise KeyFileError(f"{public} or {secret} already exists; choose another name or delete them first")
    made_public, made_secret = zmq.auth.create_certificates(str(directory), name)
    os.chmod(made_secret, 0o600)
    return Path(made_public), Path(made_secret)


def allow_key(public_file: str | os.PathLike, directory: Path | None = None) -> Path:
    """Add a client's public key file to the allowlist (directory/allowed/); returns the copy."""
    load_keys(public_file)  # refuse anything that is not a certificate
    allowed = Path(directory or keys_directory()) / "allowed"
    allowed.mkdir(parents=True, exist_ok=True)
    target = allowed / Path(public_file).name.replace(".key_secret", ".key")
    public, _ = zmq.auth.load_certificate(str(public_file))
    target.write_text("metadata\ncurve\n    public-key = \"" + public.decode("ascii") + "\"\n")
    return target


def load_keys(path: str | os.PathLike) -> KeyPair:
    """A key pair (or public key) from a certificate file."""
    try:
        public, secret = zmq.auth.load_certificate(os.fspath(path))
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{os.fspath(path)!r} is not a readable CURVE key file: {type(error).__name__}") from None
    if public is None or len(public) != 40 or (secret is not None and len(secret) != 40):
        raise KeyFileError(f"{os.fspath(path)!r} does not hold a 40-character z85 CURVE key")
    return KeyPair(public, secret)


def server_keys(directory: Path | None = None, name: str = "server") -> KeyPair:
    """The service's key pair (NAME.key_secret in the keys directory), created on first use."""
    directory = Path(directory or keys_directory())
    secret = directory / f"{name}.key_secret"
    if not secret.exists():
        new_keys(name, directory)
    return load_keys(secret)


class Allowlist:
    """ZAP credentials provider: a client key is allowed if its certificate is in `directory`."""

    def __init__(self, directory: Path, extra: tuple[bytes, ...] = ()) -> None:
        self.directory, self._extra = Path(directory), set(extra)

    def keys(self) -> set[bytes]:
        """The allowed public keys (read again on every call: `specpy keys allow` needs no restart)."""
        keys = set(self._extra)
        if self.directory.is_dir():
            for path in self.directory.glob("*.key"):
                try:
                    keys.add(load_keys(path).public)
                except KeyFileError:
                    continue
        return keys

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP: is this client key allowed?"""
        return key in self.keys()


def start_authenticator(context: zmq.Context, allowlist: Allowlist) -> ThreadAuthenticator:
    """A ZAP handler for `context` that admits only CURVE clients on the allowlist."""
    authenticator = ThreadAuthenticator(context, log=_zap_log)
    authenticator.start()
    authenticator.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=allowlist)
    return authenticator


def make_server(sock: zmq.Socket, keys: KeyPair) -> None:
    """Make `sock` a CURVE server (before bind) that asks ZAP about each client."""
    sock.zap_domain = ZAP_DOMAIN.encode()
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_server = True


def make_client(sock: zmq.Socket, keys: KeyPair, server_public: bytes) -> None:
    """Make `sock` a CURVE client of a server with public key `server_public` (before connect)."""
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = server_public


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the socket on this machine."""
    if host in ("localhost", "127.0.0.1", "::1"):
        return True
    try:
        return ipaddress.ip_address(socket_module.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def check_bind(host: str, curve: bool, force: bool) -> None:
    """Refuse to listen beyond loopback without CURVE keys unless forced."""
    if not curve and not force and not is_loopback(host):
        raise Error(f"refusing to listen on {host!r} without CURVE keys: anyone on the network could drive the "
                    "microscope. Use --curve (see `specpy keys`), bind 127.0.0.1, or --insecure to force")
