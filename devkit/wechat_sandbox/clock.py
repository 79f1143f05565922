"""The sandbox clock: WeChat's "now", which tests move forward instead of sleeping.

Codes (300 s), access tokens (7200 s), login quotas (per minute) and daily quotas all read this
clock, so an expiry test advances it through ``POST /sandbox/api/clock`` and runs in milliseconds.
Background work (media download, push retries) uses real seconds: it talks to real servers.
"""

from __future__ import annotations

import threading
import time


class SandboxClock:
    """WeChat's notion of "now": wall-clock time (or a fixed start) plus an offset tests can advance."""

    def __init__(self, start: float | None = None) -> None:
        self._start = start
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current sandbox time in seconds since the epoch."""
        base = time.time() if self._start is None else self._start
        with self._lock:
            return base + self._offset

    @property
    def offset(self) -> float:
        """Seconds the clock has been advanced since start or the last reset."""
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> float:
        """Move time forward (never backward: WeChat's time does not go back) and return now()."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self) -> None:
        """Forget every advance."""
        with self._lock:
            self._offset = 0.0
