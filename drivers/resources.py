"""Resource strings: telling a VISA resource from a serial port or pyserial URL, and refusing malformed ones."""

from __future__ import annotations

import re

from specpy.errors import ValidationError

#: The resource kinds a driver can declare, and what each looks like.
KINDS = {
    "visa": "a VISA resource such as 'TCPIP::192.168.1.5::5025::SOCKET', 'TCPIP::host::INSTR', "
    "'USB0::0x0957::0x1796::MY123::INSTR', 'GPIB0::12::INSTR' or 'ASRL/dev/ttyUSB0::INSTR'",
    "serial": "a serial port's absolute path such as '/dev/ttyUSB0' or '/dev/serial/by-id/...', or 'COM3', "
    "or a pyserial URL such as 'socket://host:port', 'rfc2217://host:port' or 'loop://'",
}

_VISA = re.compile(
    r"(?i)(?:TCPIP\d*::[^:\s]+(?:::\d+::SOCKET|(?:::[^:\s]+)?::INSTR)"
    r"|USB\d*::[^:\s]+::[^:\s]+::[^:\s]+(?:::\d+)?::(?:INSTR|RAW)"
    r"|GPIB\d*::\d+(?:::\d+)?::INSTR"
    r"|ASRL[^:\s]+::INSTR"
    r"|VXI\d*::\d+::INSTR)\Z"
)
_VISA_PREFIX = re.compile(r"(?i)(TCPIP|USB|GPIB|ASRL|VXI|PXI)[^:]*::")
_URL = re.compile(r"[a-z][a-z0-9+.\-]*://\S*\Z")
_PORT = re.compile(r"(?:/\S+|COM\d+|\\\\\.\\COM\d+)\Z")  # an absolute device path, or a Windows COM port


def resource_kind(resource: str) -> str:
    """'visa' or 'serial' for a well-formed resource string; anything else raises a ValidationError."""
    if not isinstance(resource, str) or not resource.strip():
        raise ValidationError(f"a resource must be a non-empty str; allowed: {KINDS['visa']}, or {KINDS['serial']}")
    if _VISA_PREFIX.match(resource):
        if _VISA.match(resource):
            return "visa"
        raise ValidationError(f"{resource!r} is not a well-formed VISA resource; allowed: {KINDS['visa']}")
    if _URL.match(resource) or _PORT.match(resource):
        return "serial"
    raise ValidationError(
        f"{resource!r} is neither a VISA resource nor a serial port or URL; allowed: {KINDS['visa']}, "
        f"or {KINDS['serial']}"
    )
