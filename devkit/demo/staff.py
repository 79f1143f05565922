"""The demo's staff account: ``make run`` (sandbox on) seeds one so the admin console can be tried at once.

It exists only where the WeChat sandbox is on (development; production refuses the sandbox), holds every
role so each console page can be seen, and gets a random password that is written to a file of the
instance folder readable by its owner only (``instance/demo-staff.txt``) and printed in ``make run``'s
banner. The account is created once; later starts read the file again. A real deployment creates its
first admin with ``flask staff create-admin``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from app.extensions import db
from app.staff import manage
from app.staff.permissions import Role
from app.staff.services import find_by_username

DEMO_STAFF_USERNAME = "demo-admin"


@dataclass(frozen=True)
class DemoStaff:
    username: str
    password: str | None  # None: the account exists but its password file was removed
    password_file: Path


def ensure_demo_staff(app: Flask, instance_dir: Path) -> DemoStaff | None:
    if not app.config["WECHAT_SANDBOX"]:
        return None
    password_file = instance_dir / "demo-staff.txt"
    with app.app_context():
        exists = find_by_username(DEMO_STAFF_USERNAME)
        if exists is not None:
            password = password_file.read_text().strip() if password_file.exists() else None
            return DemoStaff(DEMO_STAFF_USERNAME, password, password_file)
        password = f"demo-{secrets.token_urlsafe(12)}"
        manage.create_staff(DEMO_STAFF_USERNAME, [role.value for role in Role], password)
        db.session.commit()
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return DemoStaff(DEMO_STAFF_USERNAME, password, password_file)
