"""Shared machinery: gunicorn servers, alternating rounds, medians, the machine description."""

from __future__ import annotations

import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import LoadGenerator, LoadResult

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_WORKERS = 2
# The worker settings of every benchmark's gunicorn (both sides alike). ``BENCH_GUNICORN_ARGS`` replaces
# them, e.g. ``-w 2 -k gthread --threads 4`` (how app/gunicorn_conf.py's defaults were chosen: bench/README.md).
GUNICORN_ARGS = shlex.split(os.environ.get("BENCH_GUNICORN_ARGS", f"-w {GUNICORN_WORKERS} -k sync"))


def deployed_gunicorn_args() -> list[str]:
    """The worker class and threads production runs (``app/gunicorn_conf.py``), ``GUNICORN_WORKERS`` processes;
    ``BENCH_GUNICORN_ARGS`` still replaces them. ``bench.load`` serves both sides so: its rows are about the
    throughput and the held peak of the server as deployed, where the per-request CPU rows keep sync workers."""
    if "BENCH_GUNICORN_ARGS" in os.environ:
        return list(GUNICORN_ARGS)
    from app import gunicorn_conf

    return ["-w", str(GUNICORN_WORKERS), "-k", gunicorn_conf.worker_class, "--threads", str(gunicorn_conf.threads)]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gunicorn_version() -> str:
    try:
        import gunicorn

        return gunicorn.__version__
    except ImportError:
        return "not installed"


def machine_description(load: LoadGenerator) -> list[tuple[str, str]]:
    load1, load5, _ = os.getloadavg()
    return [
        ("nproc", f"{cpu_count()} (os.cpu_count {os.cpu_count()})"),
        ("cpu", cpu_model()),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("os", platform.platform()),
        ("load average", f"{load1:.2f} (1 min), {load5:.2f} (5 min) at start"),
        ("gunicorn", f"{gunicorn_version()}: {' '.join(GUNICORN_ARGS)}, no access log"),
        ("load generator", load.describe()),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if path.exists():
        return [int(child) for child in path.read_text().split()]
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return children


def _proc_cpu_seconds(pid: int) -> float:
    """CPU time of a process so far: in nanoseconds where the kernel keeps it, else in clock ticks.

    ``/proc/<pid>/stat``'s utime + stime count whole ticks (10 ms at USER_HZ=100): a round of 60 requests of
    2 ms each is ~12 ticks per process, so each reading of master + 2 workers is off by up to ~25 %. The
    scheduler's own count (``/proc/<pid>/task/<tid>/schedstat``, first field, ns, summed over the threads)
    has no such step. Threads that exited are not in it: the servers measured here start none per request.
    """
    try:
        run_ns = sum(_thread_run_ns(task) for task in Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        run_ns = 0
    if run_ns:
        return run_ns / 1e9
    return _proc_cpu_ticks_seconds(pid)  # a kernel without schedstats reads 0


def _thread_run_ns(task: Path) -> int:
    try:
        return int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # the thread ended meanwhile
        return 0


def _proc_cpu_ticks_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime


class Gunicorn:
    """``python -m gunicorn -w 2 -k sync -b 127.0.0.1:<free port> <app>`` (``GUNICORN_ARGS``), started and stopped.

    No ``--access-logfile``: gunicorn's default is no access log (passing ``None`` would log to a
    file literally named ``None``).
    """

    def __init__(self, label: str, app_spec: str, env: dict[str, str], log_dir: Path,
                 args: list[str] | None = None) -> None:
        """``args``: the worker settings, ``GUNICORN_ARGS`` unless given (``deployed_gunicorn_args``)."""
        self.label, self.app_spec, self.env = label, app_spec, env
        self.args = list(GUNICORN_ARGS if args is None else args)
        self.log_path = log_dir / f"gunicorn-{label}.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = self.port or free_port()  # a caller may choose it first (e.g. to put it in PUBLIC_BASE_URL)
        cmd = [sys.executable, "-m", "gunicorn", *self.args,
               "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "5", self.app_spec]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_ready(self, path: str, headers: dict[str, str], timeout_s: float = 30.0) -> None:
        """Poll ``path`` until it answers 200 (both workers are then usually up too)."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.label}: gunicorn exited ({self.proc.returncode})\n{self.log_tail()}")
            try:
                request = urllib.request.Request(self.base_url + path, headers=headers)
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
                    last = f"status {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"status {exc.code}: {exc.read()[:300]!r}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(f"{self.label}: {path} not ready after {timeout_s:g}s ({last})\n{self.log_tail()}")

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the master and its live workers so far (Linux /proc; None elsewhere)."""
        if self.proc is None:
            return None
        try:
            return sum(_proc_cpu_seconds(pid) for pid in [self.proc.pid, *_children(self.proc.pid)])
        except (OSError, ValueError, IndexError):
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # the master stops its workers gracefully
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only this gunicorn's processes
            self.proc.wait(timeout=5)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return f"--- end of {self.log_path} ---\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Target:
    """One side of a comparison: a running server and the request to send it."""

    label: str
    server: Gunicorn
    path: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.base_url + self.path


@dataclass
class BenchResult:
    name: str
    description: str
    target_ratio: float
    baseline: list[LoadResult]
    subject: list[LoadResult]

    @property
    def baseline_median(self) -> float:
        return statistics.median(r.rps for r in self.baseline) if self.baseline else 0.0

    @property
    def subject_median(self) -> float:
        return statistics.median(r.rps for r in self.subject) if self.subject else 0.0

    @property
    def ratio(self) -> float:
        return self.subject_median / self.baseline_median if self.baseline_median else 0.0

    @staticmethod
    def cpu_median(results: list[LoadResult]) -> float | None:
        values = [r.cpu_us_per_request for r in results if r.cpu_us_per_request is not None]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for result in self.baseline + self.subject:
            for key, n in result.errors.items():
                total[key] = total.get(key, 0) + n
        return total

    @property
    def passed(self) -> bool:
        return not self.errors and bool(self.subject) and self.ratio >= self.target_ratio


def alternate_rounds(baseline: Target, subject: Target, load: LoadGenerator, *, rounds: int, duration_s: float,
                     warmup_s: float, log=print) -> tuple[list[LoadResult], list[LoadResult]]:
    """Warm both up, then baseline, subject, baseline, subject, … so drifts in machine load hit both."""
    for target in (baseline, subject):
        load.run(target.url, target.headers, warmup_s)  # imports, pools, caches: not counted
    results: dict[str, list[LoadResult]] = {baseline.label: [], subject.label: []}
    for i in range(1, rounds + 1):
        for target in (baseline, subject):
            cpu_before = target.server.cpu_seconds()
            result = load.run(target.url, target.headers, duration_s)
            cpu_after = target.server.cpu_seconds()
            if cpu_before is not None and cpu_after is not None:
                result.server_cpu_s = cpu_after - cpu_before
            results[target.label].append(result)
            cpu = result.cpu_us_per_request
            cpu_text = f", server CPU {cpu:5.0f} us/req" if cpu is not None else ""
            errors = f"  ERRORS {dict(result.errors)}" if result.errors else ""
            log(f"  round {i}/{rounds}  {target.label:<8} {result.rps:8.1f} req/s  ({result.ok:>6} x 200{cpu_text})"
                f"{errors}")
            if not target.server.alive():
                raise RuntimeError(f"{target.label}: gunicorn died\n{target.server.log_tail()}")
    return results[baseline.label], results[subject.label]
