"""Wire faults of one instrument: latency, dropped replies, garbled bytes (seeded, countable)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from device_sim.streamed import Streamed


@dataclass
class Faults:
    """Per-instrument fault settings; a test or the control channel changes them at run time.

    latency: real seconds before each reply (so driver timeouts can be exercised);
    drop / garble: how many of the next replies to drop or to corrupt;
    drop_rate / garble_rate: probabilities for every later reply (seeded generator).
    """

    seed: int = 0
    latency: float = 0.0
    drop: int = 0
    garble: int = 0
    drop_rate: float = 0.0
    garble_rate: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: np.random.Generator | None = field(default=None, repr=False)

    def set(self, **settings: float) -> None:
        """Change any of latency, drop, garble, drop_rate, garble_rate (unknown names raise)."""
        with self._lock:
            for name, value in settings.items():
                if name not in {"latency", "drop", "garble", "drop_rate", "garble_rate"}:
                    raise ValueError(f"unknown fault setting {name!r}")
                if value < 0:
                    raise ValueError(f"fault setting {name} must be >= 0, got {value}")
                setattr(self, name, int(value) if name in {"drop", "garble"} else float(value))

    def clear(self) -> None:
        """No faults."""
        self.set(latency=0, drop=0, garble=0, drop_rate=0, garble_rate=0)

    def _chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return bool(self._rng.random() < rate)

    def apply(self, reply: bytes | Streamed, keep_tail: int = 0) -> bytes | Streamed | None:
        """The reply as the wire delivers it: after the latency, None if dropped, maybe garbled.

        Garbling flips bits in the payload but keeps the last `keep_tail` bytes (the terminator),
        so the client reads a corrupt line rather than a merged one. A streamed reply stays
        streamed unless it is garbled.
        """
        with self._lock:
            latency = self.latency
            if self.drop > 0 or self._chance(self.drop_rate):
                self.drop = max(self.drop - 1, 0)
                drop = True
            else:
                drop = False
            garble = not drop and (self.garble > 0 or self._chance(self.garble_rate))
            if garble:
                self.garble = max(self.garble - 1, 0)
                if self._rng is None:
                    self._rng = np.random.default_rng(self.seed)
                flips = self._rng.integers(1, 256, size=len(reply), dtype=np.uint8)
        if latency > 0:
            time.sleep(latency)
        if drop:
            return None
        if garble:
            body = len(reply) - keep_tail
            data = np.frombuffer(bytes(reply), dtype=np.uint8).copy()
            data[:body] ^= flips[:body] | 0x80  # always leaves ASCII: the damage is detectable
            return data.tobytes()
        return reply
