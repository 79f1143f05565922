"""``python -m devkit.wechat_sandbox [--host 127.0.0.1] [--port 5100]``: serve the sandbox.

Exits with status 2 and a message on stderr, before binding anything, in production or when the
``WECHAT_SANDBOX_*`` settings are unusable.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from werkzeug.serving import run_simple

from devkit.wechat_sandbox.settings import SandboxConfigError, SandboxSettings, refuse_production

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5100


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devkit.wechat_sandbox",
        description="Emulate api.weixin.qq.com for development (never in production).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; returns the process exit status."""
    arguments = parse_arguments(argv)
    try:
        refuse_production()
        settings = SandboxSettings.from_env()
    except (RuntimeError, SandboxConfigError) as exc:
        print(f"wechat sandbox: {exc}", file=sys.stderr)
        return 2
    from devkit.wechat_sandbox import create_sandbox_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sandbox = create_sandbox_app(settings)
    apps = ", ".join(app.appid for app in settings.apps)
    print(f"WeChat sandbox for {apps}: http://{arguments.host}:{arguments.port}/sandbox/", file=sys.stderr)
    run_simple(arguments.host, arguments.port, sandbox, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
