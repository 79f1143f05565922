"""auth_me: authenticated ``GET /api/v1/me`` of our app vs the bare Flask JSON endpoint.

Subject: ``gunicorn wsgi:app`` on a fresh SQLite file migrated with ``flask db upgrade`` (or the
PostgreSQL database named by ``BENCH_DATABASE_URL``), one user and one real login session made by
``start_session(user, "wechat", None)``; every request carries its bearer token, so each one goes
through the whole stack: request id, bearer lookup (token hash, indexed SELECT), the user, the
``endpoint`` envelope, pydantic serialisation. The bearer lookup is the auth cache's hot path when
Redis answers (one MGET of the auth epochs; the database once per ``AUTH_CACHE_TTL_S`` per worker)
and one indexed SELECT per request otherwise (see ``app/accounts/sessions.py``). Baseline:
``gunicorn bench.bare_app:app``. Both get the same headers, the same gunicorn settings and the same
environment.

``python -m bench.auth_me --create-session`` is the setup step run inside the subject's environment
(prints the token); the benchmark itself runs through ``python -m bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from bench.harness import ROOT, BenchResult, Gunicorn, Target, alternate_rounds, redis_answers
from bench.loadgen import LoadGenerator

NAME = "auth_me"
DESCRIPTION = "GET /api/v1/me (bearer token) vs bare Flask jsonify"
TARGET_RATIO = 0.50
BENCH_REDIS_URL = "redis://127.0.0.1:6379/14"


def server_env(tmp: Path) -> tuple[dict[str, str], list[str]]:
    """The environment of the setup step and of both servers, and notes saying what was chosen."""
    env = dict(os.environ)
    notes = []
    database_url = os.environ.get("BENCH_DATABASE_URL")
    if database_url:
        notes.append("database: BENCH_DATABASE_URL (PostgreSQL; migrated, one user and session added)")
    else:
        database_url = f"sqlite:///{tmp / 'bench.db'}"
        notes.append(f"database: fresh SQLite file {tmp / 'bench.db'}")
    env.update(MIAOHUA_ENV="development", LOG_LEVEL="WARNING", DATABASE_URL=database_url,
               MIAOHUA_INSTANCE_DIR=str(tmp / "instance"))
    if redis_answers():
        env["REDIS_URL"] = BENCH_REDIS_URL
        notes.append(f"REDIS_URL={BENCH_REDIS_URL} (/me checks the auth epochs there; its CPU is not counted)")
    else:
        env.pop("REDIS_URL", None)
        notes.append("REDIS_URL unset: no Redis on 127.0.0.1:6379, so /me asks the database on every request "
                     "(no auth cache without the epochs)")
    return env, notes


def _run_step(args: list[str], env: dict[str, str], what: str) -> str:
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


def setup_subject(env: dict[str, str]) -> str:
    """Migrate the database and return a real bearer token."""
    _run_step(["-m", "flask", "--app", "wsgi:app", "db", "upgrade"], env, "flask db upgrade")
    stdout = _run_step(["-m", "bench.auth_me", "--create-session"], env, "creating the user and session")
    return stdout.strip().splitlines()[-1]


def create_session() -> str:
    """Inside the subject's environment: one user, one login session (committed); returns the token."""
    from app import create_app
    from app.accounts.models import User
    from app.accounts.sessions import start_session
    from app.extensions import db

    app = create_app()
    with app.app_context():
        user = User(nickname="bench")
        db.session.add(user)
        db.session.flush()
        _session, token = start_session(user, "wechat", None)
        db.session.commit()
    return token


def run(load: LoadGenerator, *, rounds: int, duration_s: float, warmup_s: float, log=print) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="miaohua-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env, notes = server_env(tmp)
        for note in notes:
            log(f"  {note}")
        token = setup_subject(env)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        with Gunicorn("bare", "bench.bare_app:app", env, tmp) as bare, Gunicorn("app", "wsgi:app", env, tmp) as app:
            bare.wait_ready("/", headers)
            app.wait_ready("/api/v1/me", headers)
            request = urllib.request.Request(app.base_url + "/api/v1/me", headers=headers)
            with urllib.request.urlopen(request, timeout=5) as response:
                body = json.loads(response.read())
            if body.get("data", {}).get("nickname") != "bench":
                raise RuntimeError(f"/api/v1/me did not return the bench user: {body}")
            baseline, subject = alternate_rounds(
                Target("bare", bare, "/", headers), Target("app /me", app, "/api/v1/me", headers), load,
                rounds=rounds, duration_s=duration_s, warmup_s=warmup_s, log=log)
    return BenchResult(NAME, DESCRIPTION, TARGET_RATIO, baseline, subject)


if __name__ == "__main__":
    if sys.argv[1:] == ["--create-session"]:
        print(create_session())
    else:
        sys.exit("usage: python -m bench.auth_me --create-session   (run the benchmarks with: python -m bench)")
