"""Load generators: ``wrk`` when it is on PATH, else a multi-process Python client.

Both hit one URL with the same headers for a fixed duration and return a ``LoadResult``: completed
200 responses per second, plus every non-200 status and connection error (a run with any error is
reported as failed by the harness).

gunicorn's sync workers answer ``Connection: close`` on every response, so each request is a new
TCP connection whichever generator is used; the Python generator reconnects transparently (a
closed keep-alive connection is not an error, a failed request on a fresh connection is).
"""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

WRK_THREADS = 2
WRK_CONNECTIONS = 16


@dataclass
class LoadResult:
    generator: str
    duration_s: float
    ok: int  # completed 200 responses
    rps: float  # 200 responses per second
    errors: Counter = field(default_factory=Counter)  # "status 401" / "socket read" / "ConnectionRefusedError" → n
    server_cpu_s: float | None = None  # CPU the server's processes used meanwhile (set by the harness)

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.server_cpu_s is None or not self.ok:
            return None
        return self.server_cpu_s / self.ok * 1e6

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class LoadGenerator:
    name = "?"

    def describe(self) -> str:
        raise NotImplementedError

    def run(self, url: str, headers: dict[str, str], duration_s: float) -> LoadResult:
        raise NotImplementedError


# --- wrk ------------------------------------------------------------------------------------------

# Counts 200 and non-200 responses in every wrk thread and prints the totals at the end (wrk itself
# only reports "Non-2xx or 3xx responses", which would let a 3xx pass).
_WRK_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = {} end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad[status] = (bad[status] or 0) + 1 end
end
function done(summary, latency, requests)
  local total, parts = 0, {}
  local merged = {}
  for _, t in ipairs(threads) do
    total = total + t:get("ok")
    for status, n in pairs(t:get("bad")) do merged[status] = (merged[status] or 0) + n end
  end
  for status, n in pairs(merged) do table.insert(parts, status .. ":" .. n) end
  io.write(string.format("BENCH_STATUS ok=%d bad=%s\n", total, table.concat(parts, ",")))
end
"""

_RPS_RE = re.compile(r"^Requests/sec:\s*([\d.]+)", re.MULTILINE)
_SOCKET_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_STATUS_RE = re.compile(r"^BENCH_STATUS ok=(\d+) bad=(\S*)$", re.MULTILINE)


class WrkLoad(LoadGenerator):
    name = "wrk"

    def __init__(self, threads: int = WRK_THREADS, connections: int = WRK_CONNECTIONS) -> None:
        self.path = shutil.which("wrk")
        if self.path is None:
            raise RuntimeError("wrk is not on PATH")
        self.threads, self.connections = threads, connections
        fd, self.script = tempfile.mkstemp(prefix="bench-wrk-", suffix=".lua")
        with os.fdopen(fd, "w") as f:
            f.write(_WRK_LUA)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.script)

    def version(self) -> str:
        out = subprocess.run([self.path, "-v"], capture_output=True, text=True, check=False)
        first = (out.stdout + out.stderr).strip().splitlines()
        return first[0].split(" [")[0] if first else "wrk"

    def describe(self) -> str:
        return f"{self.version()} (-t{self.threads} -c{self.connections}, Lua status counter)"

    def run(self, url: str, headers: dict[str, str], duration_s: float) -> LoadResult:
        cmd = [self.path, f"-t{self.threads}", f"-c{self.connections}", f"-d{duration_s:g}s", "--timeout", "5s",
               "-s", self.script]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(url)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 30, check=False)
        text = out.stdout + out.stderr
        errors: Counter = Counter()
        rps_match, status_match = _RPS_RE.search(text), _STATUS_RE.search(text)
        if out.returncode != 0 or rps_match is None or status_match is None:
            errors[f"wrk failed (exit {out.returncode}): {text.strip()[-300:]}"] += 1
            return LoadResult(self.name, duration_s, 0, 0.0, errors)
        ok = int(status_match.group(1))
        for part in filter(None, status_match.group(2).split(",")):
            status, _, n = part.partition(":")
            errors[f"status {status}"] += int(n)
        socket_match = _SOCKET_RE.search(text)
        if socket_match:
            for kind, n in zip(("connect", "read", "write", "timeout"), socket_match.groups(), strict=True):
                if int(n):
                    errors[f"socket {kind}"] += int(n)
        # wrk's Requests/sec counts every completed response; with errors present the run fails anyway.
        return LoadResult(self.name, duration_s, ok, float(rps_match.group(1)), errors)


# --- Python ---------------------------------------------------------------------------------------

_RECONNECT_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                     http.client.BadStatusLine)


def _client(host: str, port: int, path: str, headers: dict[str, str], start_at: float, end_at: float,
            results: multiprocessing.Queue) -> None:
    """One client process: sequential requests until ``end_at`` (``time.monotonic``, system-wide)."""
    ok, reconnects = 0, 0
    errors: Counter = Counter()
    conn: http.client.HTTPConnection | None = None
    reused = False  # has this connection already carried a request?
    while time.monotonic() < start_at:
        time.sleep(0.001)
    while True:
        if conn is None:
            conn, reused = http.client.HTTPConnection(host, port, timeout=10), False
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
        except _RECONNECT_ERRORS as exc:
            conn.close()
            conn = None
            if reused:
                reconnects += 1  # the server closed an idle keep-alive connection: retry on a new one
            else:
                errors[type(exc).__name__] += 1
            if time.monotonic() >= end_at:
                break
            continue
        except OSError as exc:
            conn.close()
            conn = None
            errors[type(exc).__name__] += 1
            if time.monotonic() >= end_at:
                break
            continue
        if time.monotonic() >= end_at:
            break  # finished after the deadline: not counted
        if response.status == 200:
            ok += 1
        else:
            errors[f"status {response.status}"] += 1
        if response.will_close:  # gunicorn sync workers close every connection
            conn.close()
            conn = None
            reconnects += 1
        else:
            reused = True
    if conn is not None:
        conn.close()
    results.put((ok, dict(errors), reconnects))


class PythonLoad(LoadGenerator):
    name = "python"

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or max(4, 2 * (os.cpu_count() or 1))

    def describe(self) -> str:
        return (f"python http.client ({self.processes} processes x 1 connection, "
                "reconnecting after each Connection: close)")

    def run(self, url: str, headers: dict[str, str], duration_s: float) -> LoadResult:
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()
        start_at = time.monotonic() + 0.3  # every process starts at the same instant
        end_at = start_at + duration_s
        procs = [ctx.Process(target=_client, args=(parts.hostname, parts.port, path, headers, start_at, end_at,
                                                   results), daemon=True)
                 for _ in range(self.processes)]
        for proc in procs:
            proc.start()
        ok, errors = 0, Counter()
        for _ in procs:
            n_ok, n_errors, _reconnects = results.get(timeout=duration_s + 30)
            ok += n_ok
            errors.update(n_errors)
        for proc in procs:
            proc.join(timeout=10)
        return LoadResult(self.name, duration_s, ok, ok / duration_s, errors)


def make_load_generator(kind: str = "auto") -> LoadGenerator:
    """``auto``: wrk when it is on PATH, else Python; ``wrk`` / ``python`` force one."""
    if kind == "wrk" or (kind == "auto" and shutil.which("wrk")):
        return WrkLoad()
    if kind in ("auto", "python"):
        return PythonLoad()
    raise ValueError(f"unknown load generator {kind!r} (auto, wrk, python)")
