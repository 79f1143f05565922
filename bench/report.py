"""One result row per measured comparison, the shape ``python -m bench`` prints for every benchmark.

Each benchmark module builds ``Row`` objects (baseline, subject, their ratio, the target and a verdict)
and, when run with ``--rows-json PATH`` by the runner, writes them there; the runner reads them back
and prints one table for the whole run. Values are already formatted text: each benchmark knows its
own unit (req/s, ms, MiB, ×) and the table only lines them up.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

VERDICTS = ("PASS", "FAIL", "INFO", "SKIP")


@dataclass
class Row:
    name: str
    baseline: str
    subject: str
    ratio: str
    target: str
    verdict: str  # PASS / FAIL (measured against the target), INFO (no target), SKIP (could not run)
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def write_rows(path: str | Path, rows: list[Row]) -> None:
    Path(path).write_text(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=1), encoding="utf-8")


def read_rows(path: str | Path) -> list[Row]:
    return [Row(**item) for item in json.loads(Path(path).read_text(encoding="utf-8"))]


def format_table(rows: list[Row], notes: bool = True) -> str:
    header = ("benchmark", "baseline", "subject", "ratio", "target", "result")
    cells = [header] + [(r.name, r.baseline, r.subject, r.ratio, r.target, r.verdict) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(w) if i in (0, 1, 2, 4, 5) else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if notes:
        for r in rows:
            if r.note:
                lines.append(f"  {r.name}: {r.note}")
    return "\n".join(lines)
