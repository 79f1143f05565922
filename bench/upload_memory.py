"""Memory of the web process under uploads (issue #16: ``make run`` grew from 119 to 487 MB over ~150 uploads).

    .venv/bin/python -m bench.upload_memory [--servers "make run,gunicorn"] [--uploads 1000] [--users 100]
                                            [--concurrency 4] [--max-growth-mib 8]

Each server is started the way it runs for real:

- ``make run``: ``devkit.devstack.web_command`` with ``devkit.devstack.web_env`` (Werkzeug's development server, a
  thread per request, and the environment devstack gives the web process, malloc settings included);
- ``gunicorn``: ``deploy/entrypoint.sh web`` (gunicorn with ``app.gunicorn_conf``: gthread workers, 4 threads, the
  entrypoint's environment), 2 workers (``GUNICORN_WORKERS``) on the 2-core box.

Both on a SQLite file, with the embedded queue server (fakeredis over TCP) and the WeChat sandbox in this
process, so every upload goes the whole way: multipart parsing, validation, normalisation, the face check
(mediapipe), encryption, storage, and WeChat's content check (the sandbox fetches the photo from the app and
pushes its verdict back). Phone-sized portraits (1.9 MB, 2560×2560 JPEG with EXIF GPS) are uploaded
``--concurrency`` at a time, round-robin over ``--users`` phones (so per-user upload limits do not refuse
them). RSS is read from /proc after 100 uploads and after all of them (for gunicorn: the master and its
workers together, and the largest worker). Target: no growth between the two beyond ``--max-growth-mib``.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.harness import ROOT, _children, free_port
from bench.load_setup import (
    UPLOAD_BOUNDARY,
    InProcessSandbox,
    SetupFailed,
    call,
    forwarded_for,
    login,
    multipart_upload,
)
from bench.services import app_env, migrate

SAMPLE = ROOT / "tests" / "data" / "portrait-astronaut.png"
FIRST_MARK = 100
SERVERS = ("make run", "gunicorn")
MAX_GROWTH_MIB = 8.0
GUNICORN_WORKERS = 2
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def phone_portrait(side: int = 2560) -> bytes:
    """The sample portrait at phone size with sensor-like noise and EXIF (GPS included), as a phone sends it."""
    import numpy as np
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (31.0, 11.0, 52.0), "E", (121.0, 25.0, 48.0)
    pixels = np.asarray(Image.open(SAMPLE).convert("RGB").resize((side, side), Image.Resampling.BILINEAR))
    noise = np.random.default_rng(16).integers(-6, 7, size=pixels.shape, dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray((pixels + noise).clip(0, 255).astype(np.uint8)).save(out, format="JPEG", quality=95, exif=exif)
    return out.getvalue()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def make_phone(base_url: str, sandbox: InProcessSandbox, n: int) -> dict[str, str]:
    name = f"bench-mem-p{n}"
    sandbox.add_user(name, phone=f"137{n:08d}")
    token = login(base_url, sandbox, name, n)
    auth = {"Authorization": f"Bearer {token}", "X-Forwarded-For": forwarded_for(n)}
    call(base_url, "POST", "/api/v1/me/phone/wechat", headers=auth, json_body={"code": sandbox.phone_code(name)})
    version = call(base_url, "GET", "/api/v1/policy/current")["data"]["id"]
    call(base_url, "POST", "/api/v1/me/consents", headers=auth, expect=(204,),
         json_body={"policy_version": version, "purposes": ["service", "face_processing"]})
    call(base_url, "POST", "/api/v1/me/age", headers=auth, json_body={"adult_confirmed": True})
    return auth


class WebServer:
    """The web app on a free port as ``server`` runs it for real; its output goes to a log file."""

    def __init__(self, server: str, env: dict[str, str], log_path: Path) -> None:
        from devkit.devstack import web_command, web_env

        self.server, self.port, self.log_path = server, int(env["WEB_PORT"]), log_path
        if server == "make run":
            cmd, env = web_command("127.0.0.1", self.port), web_env(env)
        else:
            cmd = ["sh", str(ENTRYPOINT), "web", "--graceful-timeout", "5"]
            env = {**env, "MIAOHUA_PYTHON": env.get("MIAOHUA_PYTHON", sys.executable),
                   "MIAOHUA_HOME": str(ROOT), "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                   "GUNICORN_WORKERS": str(GUNICORN_WORKERS)}
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The processes that serve: the dev server itself; gunicorn's master and its workers."""
        return [self.proc.pid, *(_children(self.proc.pid) if self.server == "gunicorn" else [])]

    def rss(self) -> tuple[float, float]:
        """(RSS of all its processes, RSS of the largest one) in MiB."""
        values = [rss_mib(pid) for pid in self.pids()]
        return sum(values), max(values)

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"web exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                call(self.base_url, "GET", "/readyz")
                return
            except (OSError, SetupFailed):
                time.sleep(0.2)
        raise RuntimeError("web not ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)  # its own session: only this server's processes
            self.proc.wait()


def run(server: str, uploads: int, users: int, concurrency: int, log: Callable[[str], None] = print,
        on_mark: Callable[[int, WebServer], None] | None = None) -> dict[str, float]:
    """Upload ``uploads`` portraits to ``server``; RSS (MiB) at start, after FIRST_MARK and at a few marks up
    to ``uploads``. ``on_mark(n, web)`` is called at each mark (an investigation hook: tracemalloc dumps).
    Everything it stores (database, ~1.6 GB of encrypted photos for 1,000 uploads) is removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="miaohua-bench-upload-memory-"))
    try:
        return _run_in(tmp, server, uploads, users, concurrency, log, on_mark)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_in(tmp: Path, server: str, uploads: int, users: int, concurrency: int, log: Callable[[str], None],
            on_mark: Callable[[int, WebServer], None] | None) -> dict[str, float]:
    from app.core.embedded_redis import EmbeddedRedisServer

    queue = EmbeddedRedisServer(("127.0.0.1", free_port()))
    threading.Thread(target=queue.serve_forever, name="embedded-redis", daemon=True).start()
    web_port = free_port()
    with InProcessSandbox(tmp / "wechat_sandbox_pay") as sandbox:
        env = app_env(tmp, f"sqlite:///{tmp / 'instance' / 'miaohua.db'}",
                      f"redis://127.0.0.1:{queue.server_address[1]}/0",
                      WEB_PORT=str(web_port), WECHAT_API_BASE_URL=sandbox.base_url,
                      WECHAT_PAY_BASE_URL=sandbox.base_url, PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
                      TRUSTED_PROXIES="1")
        (tmp / "instance").mkdir(parents=True, exist_ok=True)
        migrate(env)
        web = WebServer(server, env, tmp / "web.log")
        try:
            web.wait_ready()
            sandbox.set_push_url(f"{web.base_url}/api/v1/wechat/push")
            photo = phone_portrait()
            body = multipart_upload(photo)
            phones = [make_phone(web.base_url, sandbox, n) for n in range(users)]
            figures = {"rss_start_mib": web.rss()[0]}
            log(f"{server}: {len(photo) / 1e6:.2f} MB JPEG with EXIF GPS; {uploads} uploads, {users} phones, "
                f"{concurrency} at a time; pids {web.pids()}, RSS after set-up {figures['rss_start_mib']:.1f} MiB")

            def upload(i: int) -> None:
                headers = {**phones[i % users], "Content-Type": f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"}
                call(web.base_url, "POST", "/api/v1/uploads", body=body, headers=headers, expect=(201,))

            done = 0
            for mark in sorted({FIRST_MARK, uploads} | {m for m in (250, 500, 750) if FIRST_MARK < m < uploads}):
                started = time.monotonic()
                with ThreadPoolExecutor(concurrency) as pool:
                    list(pool.map(upload, range(done, mark)))
                rate, done = (mark - done) / (time.monotonic() - started), mark
                time.sleep(1)  # the content checks' fetches and pushes of the last uploads land
                total, largest = web.rss()
                figures[f"rss_{mark}_mib"], figures[f"largest_{mark}_mib"] = total, largest
                log(f"{server}: after {mark:>5} uploads: RSS {total:.1f} MiB"
                    + (f" (largest worker {largest:.1f})" if server == "gunicorn" else "")
                    + f", {rate:.1f} uploads/s")
                if on_mark is not None:
                    on_mark(mark, web)
            figures["rss_end_mib"] = figures[f"rss_{uploads}_mib"]
            return figures
        finally:
            web.stop()
            queue.shutdown()
            queue.server_close()


def row_for(server: str, uploads: int, figures: dict[str, float], max_growth_mib: float):
    from bench.report import Row, verdict

    growth = figures["rss_end_mib"] - figures["rss_100_mib"]
    workers = f" ({GUNICORN_WORKERS} gthread workers + master)" if server == "gunicorn" else ""
    return Row(f"upload_memory: web RSS, {uploads} uploads ({server})", f"{figures['rss_100_mib']:.1f} MiB after 100",
               f"{figures['rss_end_mib']:.1f} MiB after {uploads}", f"{growth:+.1f} MiB",
               f"<= +{max_growth_mib:g} MiB", verdict(growth <= max_growth_mib),
               f"{server}{workers}: RSS after set-up {figures['rss_start_mib']:.1f} MiB")


def main(argv: list[str] | None = None) -> int:
    from bench.report import format_table, write_rows

    parser = argparse.ArgumentParser(prog="python -m bench.upload_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, of: {', '.join(SERVERS)}")
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-growth-mib", type=float, default=MAX_GROWTH_MIB)
    parser.add_argument("--rows-json", help="also write the result rows there (for python -m bench)")
    args = parser.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if unknown := set(servers) - set(SERVERS):
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    if args.uploads <= FIRST_MARK:
        parser.error(f"--uploads must be more than {FIRST_MARK}")
    rows = [row_for(server, args.uploads, run(server, args.uploads, args.users, args.concurrency),
                    args.max_growth_mib) for server in servers]
    print(format_table(rows))
    if args.rows_json:
        write_rows(args.rows_json, rows)
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
