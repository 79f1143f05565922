"""The production image's file set, as deploy/Dockerfile and .dockerignore define it, computed without Docker
(no container daemon runs on these machines): the build context is the repository's files (git's view)
less what .dockerignore excludes, with Docker's rules (moby/patternmatcher: ``*`` and ``?`` within one path
segment, ``**`` across segments, a pattern also matches everything below a matching folder, ``!`` re-includes,
the last matching line wins); the runtime stage copies the ``COPY`` sources that do not come ``--from`` a stage.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import cache
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif char == "*":
            out, i = out + "[^/]*", i + 1
        elif char == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(char), i + 1
    return re.compile(out + r"\Z")


@cache
def ignore_rules(text: str) -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = str(PurePosixPath(line.lstrip("!").strip().strip("/")))
        rules.append((include, _pattern_regex(pattern)))
    return tuple(rules)


def ignored(path: str, dockerignore: str) -> bool:
    """Whether Docker leaves ``path`` (relative, with /) out of the build context."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]  # the path and every parent folder
    excluded = False
    for include, regex in ignore_rules(dockerignore):
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not include
    return excluded


def repository_files() -> list[str]:
    """Tracked files and new files git does not ignore: what a build from this checkout would see."""
    done = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                          capture_output=True, check=True)
    return sorted({name for name in done.stdout.decode().split("\0") if name and (ROOT / name).is_file()})


def build_context() -> list[str]:
    dockerignore = (ROOT / ".dockerignore").read_text()
    return [path for path in repository_files() if not ignored(path, dockerignore)]


def runtime_copies() -> list[tuple[str, str]]:
    """(source, destination) of each ``COPY`` from the build context in the Dockerfile's last stage."""
    stages = re.split(r"(?m)^FROM ", DOCKERFILE.read_text())
    copies = []
    for line in re.sub(r"\\\n", " ", stages[-1]).splitlines():
        if not line.startswith("COPY "):
            continue
        words = shlex.split(line)[1:]
        if any(word.startswith("--from") for word in words):
            continue
        words = [word for word in words if not word.startswith("--")]
        copies += [(source.rstrip("/"), words[-1]) for source in words[:-1]]
    return copies


def image_files() -> dict[str, str]:
    """Every file the runtime image receives from the build context: {path in the image: path in the repo}."""
    context = build_context()
    files = {}
    for source, destination in runtime_copies():
        for path in context:
            if path == source:
                target = destination.rstrip("/") + "/" + PurePosixPath(path).name if destination.endswith("/") \
                    else destination
            elif path.startswith(source + "/"):
                target = destination.rstrip("/") + path[len(source):]
            else:
                continue
            files[str(PurePosixPath(target))] = path
    return files
