"""The production profile as it runs, on this machine: every process started through deploy/entrypoint.sh.

``ProductionStack`` starts a throwaway certificate authority, an S3-compatible server (moto's server
mode, standing in for object storage), the WeChat sandbox (``MIAOHUA_ENV=staging`` is production except
for that), migrations, gunicorn with ``app.gunicorn_conf``, a generation worker, a default/maintenance
worker, the scheduler, and Debian's nginx with deploy/nginx/templates/miaohua.conf.template terminating
TLS. The test (test_production_smoke.py) then drives the mini-program's journey through ``https://``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "miaohua.conf.template"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Miaohua smoke-test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "fullchain.pem", folder / "privkey.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


def render_nginx_site(values: dict[str, str]) -> str:
    """The shipped template with only its ${MIAOHUA_*} names filled (nginx's own $variables stay), as envsubst."""
    template = NGINX_TEMPLATE.read_text()
    for name, value in values.items():
        template = template.replace("${" + name + "}", value)
    left = re.findall(r"\$\{MIAOHUA_[A-Z_]+\}", template)
    assert not left, f"template variables left unfilled: {left}"
    return template


class ProductionStack:
    def __init__(self, folder: Path, database_url: str, redis_url: str) -> None:
        self.folder = folder
        self.database_url, self.redis_url = database_url, redis_url
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.https_port, self.http_port, self.web_port = free_port(), free_port(), free_port()
        self.sandbox_port, self.s3_port = free_port(), free_port()
        self.base_url = f"https://127.0.0.1:{self.https_port}"
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.ca, self.cert, self.key = make_tls(folder)
        self.env = self.production_env()

    def production_env(self) -> dict[str, str]:
        keep = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TMPDIR"}
        env = {name: value for name, value in os.environ.items() if name in keep}
        env.update({
            "MIAOHUA_ENV": "staging",
            "MIAOHUA_PYTHON": sys.executable,
            "MIAOHUA_INSTANCE_DIR": str(self.folder / "instance"),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "ENCRYPTION_KEY_ID": "smoke1",
            "LOOKUP_HASH_KEY": secrets.token_urlsafe(40),
            "METRICS_TOKEN": secrets.token_urlsafe(24),
            "AIGC_LABEL_KEY": secrets.token_urlsafe(32),
            "PUBLIC_BASE_URL": self.base_url,
            "TRUSTED_PROXIES": "1",
            "WECHAT_SANDBOX": "1",
            "WECHAT_SANDBOX_PORT": str(self.sandbox_port),
            "WECHAT_API_BASE_URL": self.sandbox_url,
            "WECHAT_PAY_BASE_URL": self.sandbox_url,
            "SMS_PROVIDER": "sandbox",
            "WECHAT_SANDBOX_PAY_KEYS_DIR": str(self.folder / "sandbox-pay-keys"),  # the sandbox's merchant, shared
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": "miaohua-smoke",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{self.s3_port}",
            "S3_ACCESS_KEY_ID": "smoke",
            "S3_SECRET_ACCESS_KEY": "smoke-secret",
            "GUNICORN_BIND": f"127.0.0.1:{self.web_port}",
            "GUNICORN_WORKERS": "2",
            # The sandbox fetches media and pushes verdicts and payment notifications over https: it trusts
            # the throwaway CA, as WeChat's servers trust a real one.
            "REQUESTS_CA_BUNDLE": str(self.ca),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.folder / f"{name}.log"
        self.logs[name] = log
        with log.open("wb") as handle:
            proc = subprocess.Popen(args, cwd=ROOT, env=env or self.env, stdout=handle, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def entrypoint(self, name: str, *args: str) -> subprocess.Popen:
        return self.spawn(name, [str(ENTRYPOINT), *args])

    def run_entrypoint(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([str(ENTRYPOINT), *args], cwd=ROOT, env=self.env, input=stdin, capture_output=True,
                              text=True, timeout=180, check=False)
        assert done.returncode == 0, f"entrypoint.sh {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self) -> None:
        self.spawn("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)],
                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.wait_http(f"http://127.0.0.1:{self.s3_port}/moto-api/", "s3")
        import boto3

        boto3.client("s3", endpoint_url=self.env["S3_ENDPOINT_URL"], region_name="cn-north-1",
                     aws_access_key_id="smoke", aws_secret_access_key="smoke-secret").create_bucket(
            Bucket="miaohua-smoke", CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
        sandbox_env = {**self.env, "WECHAT_SANDBOX_PUSH_URL": f"{self.base_url}/api/v1/wechat/push"}
        self.spawn("sandbox", [sys.executable, "-m", "devkit.wechat_sandbox", "--host", "127.0.0.1",
                               "--port", str(self.sandbox_port)], env=sandbox_env)
        self.run_entrypoint("migrate")
        self.spawn("web", [str(ENTRYPOINT), "web"],
                   env={**self.env, "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "web-metrics")})
        self.entrypoint("worker-generation", "worker", "generation")
        self.entrypoint("worker-default", "worker", "default", "maintenance")
        self.entrypoint("scheduler", "scheduler")
        self.start_nginx()
        self.wait_http(f"{self.sandbox_url}/sandbox/api/apps", "sandbox")
        self.wait_http(f"{self.base_url}/readyz", "web behind nginx", timeout_s=90)

    def nginx_config(self) -> Path:
        site = self.folder / "miaohua.conf"
        site.write_text(render_nginx_site({
            "MIAOHUA_SERVER_NAME": "localhost 127.0.0.1", "MIAOHUA_UPSTREAM": f"127.0.0.1:{self.web_port}",
            "MIAOHUA_TLS_CERT": str(self.cert), "MIAOHUA_TLS_KEY": str(self.key),
            "MIAOHUA_HTTPS_PORT": f"127.0.0.1:{self.https_port}", "MIAOHUA_HTTP_PORT": f"127.0.0.1:{self.http_port}",
        }))
        temp = self.folder / "nginx"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (temp / sub).mkdir(parents=True, exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        main = self.folder / "nginx.conf"
        main.write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {temp}/nginx.pid;\nerror_log {self.folder}/nginx-error.log;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
            f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
            f"  include {site};\n}}\n")
        return main

    def start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        config = self.nginx_config()
        check = subprocess.run([nginx, "-t", "-p", str(self.folder), "-c", str(config)], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stderr
        self.spawn("nginx", [nginx, "-p", str(self.folder), "-c", str(config)])

    def wait_http(self, url: str, what: str, timeout_s: float = 60) -> None:
        import ssl

        context = ssl.create_default_context(cafile=str(self.ca))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited during start-up:\n{self.tail(name)}"
            try:
                with urllib.request.urlopen(url, timeout=3, context=context) as response:
                    if response.status < 500:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"{what} ({url}) not ready within {timeout_s}s\n{self.tails()}")

    def tail(self, name: str, lines: int = 40) -> str:
        log = self.logs.get(name)
        if not log or not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def tails(self) -> str:
        return "\n".join(f"--- {name}\n{self.tail(name)}" for name in self.procs)

    def stop(self) -> None:
        import signal

        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
