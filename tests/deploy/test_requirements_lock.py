"""The hash-pinned locks are up to date with the requirement files people edit (requirements*.in).

`make lock` (uv pip compile --generate-hashes) writes requirements.txt (what the image installs),
requirements-dev.lock (what `make` installs: the runtime pins plus the development and test tools) and
requirements-nodeps.lock (--no-deps). A pin added, changed or removed in a .in file without `make lock`
fails here, without a network or a resolver: every package an input names is locked at the input's version,
every package the lock says comes from an input is still named there, and every locked package has hashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"requirements.txt": "requirements.in", "requirements-dev.lock": "requirements-dev.in",
         "requirements-nodeps.lock": "requirements-nodeps.in"}


def read_inputs(name: str) -> dict[str, dict[str, str]]:
    """{input file: {package: pinned version}} of ``name`` and the files it includes with ``-r``."""
    found: dict[str, dict[str, str]] = {}
    pins: dict[str, str] = {}
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-c "):
            continue
        if line.startswith("-r "):
            found.update(read_inputs(line[3:].strip()))
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{name}: pin {line!r} with =="
        pins[canonicalize_name(requirement.name)] = specifiers[0].version
    found[name] = pins
    return found


@dataclass
class Locked:
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_lock(name: str) -> dict[str, Locked]:
    locked: dict[str, Locked] = {}
    current: Locked | None = None
    for line in (ROOT / name).read_text().splitlines():
        entry = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if entry:
            current = locked.setdefault(canonicalize_name(entry[1]), Locked(entry[2]))
        elif current and (digest := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            current.hashes.append(digest[1])
        elif current and (source := re.match(r"^\s+#\s+(?:via\s+)?(-[rc] \S+|[A-Za-z0-9][\w.-]*)$", line)):
            current.via.append(source[1])
    return locked


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_input_is_locked_at_its_pinned_version(lock):
    locked = read_lock(lock)
    assert (ROOT / lock).read_text().splitlines()[1].strip() == "#    make lock", f"{lock}: written by `make lock`"
    for source, pins in read_inputs(LOCKS[lock]).items():
        for package, version in pins.items():
            assert package in locked, f"{package} ({source}) is not in {lock}: run `make lock`"
            assert locked[package].version == version, \
                f"{package}: {source} pins {version}, {lock} has {locked[package].version}: run `make lock`"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_package_locked_from_an_input_is_still_named_there(lock):
    inputs = read_inputs(LOCKS[lock])
    for package, entry in read_lock(lock).items():
        for source in entry.via:
            if source.startswith("-r "):
                assert package in inputs.get(source[3:], {}), \
                    f"{lock} locks {package} for {source[3:]}, which no longer names it: run `make lock`"
        assert entry.hashes, f"{package} has no hash in {lock}"
        assert entry.via, f"{lock}: {package} says nothing of where it comes from"


def test_the_tests_run_on_the_versions_that_ship():
    runtime, dev = read_lock("requirements.txt"), read_lock("requirements-dev.lock")
    differ = {package: (entry.version, dev[package].version if package in dev else None)
              for package, entry in runtime.items()
              if package not in dev or dev[package].version != entry.version}
    assert differ == {}, "requirements-dev.lock must keep requirements.txt's versions: run `make lock`"


def test_the_nodeps_lock_holds_only_its_input():
    assert set(read_lock("requirements-nodeps.lock")) == set(read_inputs("requirements-nodeps.in")[
        "requirements-nodeps.in"])


def test_a_stale_lock_is_caught(tmp_path, monkeypatch):
    """The checks above fail on the drifts they are for (a copy of the repository's files, edited)."""
    for name in (*LOCKS, *LOCKS.values()):
        (tmp_path / name).write_text((ROOT / name).read_text())
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    runtime_in = tmp_path / "requirements.in"
    runtime_in.write_text(runtime_in.read_text().replace("flask==3.1.3", "flask==3.1.2"))
    with pytest.raises(AssertionError, match=r"flask: requirements\.in pins 3\.1\.2"):
        test_every_input_is_locked_at_its_pinned_version("requirements.txt")
    runtime_in.write_text(runtime_in.read_text().replace("flask==3.1.2", "flask==3.1.3")
                          .replace("pyotp==2.12.1\n", ""))
    with pytest.raises(AssertionError, match=r"locks pyotp for requirements\.in"):
        test_every_package_locked_from_an_input_is_still_named_there("requirements.txt")
    dev_in = tmp_path / "requirements-dev.in"
    dev_in.write_text(dev_in.read_text() + "miaohua-not-locked==1.0\n")
    with pytest.raises(AssertionError, match=r"miaohua-not-locked \(requirements-dev\.in\) is not in"):
        test_every_input_is_locked_at_its_pinned_version("requirements-dev.lock")
