"""Upload ingest and encryption benchmarks (issue: portrait uploads).

    .venv/bin/python -m bench.uploads [--rounds 7]

1. Ingest of a 12-megapixel JPEG (validate, normalise, face check, encrypt, store) against Pillow
   decode + re-encode of the same file alone. Target: ingest ≤ 2× decode+re-encode.
2. Encryption (the vault's envelope encryption: data key, AES-256-GCM, key wrap) against raw
   AES-256-GCM on the same bytes. Target: ≥ 80 % of raw throughput.
Both sides run alternately in this process; the result is the ratio of medians.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "portrait-astronaut.png"


def twelve_megapixel_jpeg() -> bytes:
    """The sample portrait upscaled to 4000×3000 with sensor-like noise, as a phone would send it."""
    portrait = Image.open(SAMPLE).convert("RGB").resize((3000, 3000), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (4000, 3000), (180, 180, 180))
    canvas.paste(portrait, (500, 0))
    rng = np.random.default_rng(7)
    pixels = np.asarray(canvas).astype(np.int16) + rng.integers(-6, 7, size=(3000, 4000, 3), dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(out, format="JPEG", quality=92)
    return out.getvalue()


def decode_reencode(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=92)
    return out.getvalue()


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def median_pair(baseline, subject, rounds: int) -> tuple[float, float]:
    base, subj = [], []
    for _ in range(rounds):
        base.append(baseline())
        subj.append(subject())
    return statistics.median(base), statistics.median(subj)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.uploads")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rows-json", help="also write the result rows there (for python -m bench)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MIAOHUA_ENV", "development")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    instance = tempfile.mkdtemp(prefix="miaohua-bench-uploads-")
    os.environ["MIAOHUA_INSTANCE_DIR"] = instance
    os.environ["STORAGE_LOCAL_ROOT"] = str(Path(instance) / "objects")

    from app import create_app
    from app.core import vault
    from app.uploads import images
    from app.uploads.faces import check_face

    app = create_app()
    data = twelve_megapixel_jpeg()
    print(f"machine: {os.cpu_count()} cores; input: 4000x3000 JPEG, {len(data) / 1e6:.1f} MB; rounds: {args.rounds}")

    def ingest() -> float:
        started = time.perf_counter()
        image = images.normalise(data, max_pixels=app.config["UPLOAD_MAX_PIXELS"], min_side=256)
        check_face(image.analysis)
        sealed = vault.seal("bench-object", image.jpeg)
        from app.core.storage import object_store

        object_store().put("bench/ingest", sealed.ciphertext)
        return time.perf_counter() - started

    with app.app_context():
        ingest()  # warm the face model once, as a running worker would be
        base, subj = median_pair(lambda: timed(decode_reencode, data), ingest, args.rounds)
        ratio_ingest = subj / base
        payload = images.normalise(data, max_pixels=app.config["UPLOAD_MAX_PIXELS"], min_side=256).jpeg
        raw_key = AESGCM.generate_key(bit_length=256)

        def raw() -> float:
            return timed(AESGCM(raw_key).encrypt, os.urandom(12), payload, b"bench-object")

        def envelope() -> float:
            return timed(vault.seal, "bench-object", payload)

        raw_s, env_s = median_pair(raw, envelope, args.rounds * 5)
        throughput_ratio = raw_s / env_s

    rows = [
        ("ingest vs decode+re-encode", f"{base * 1000:.0f} ms", f"{subj * 1000:.0f} ms",
         f"{ratio_ingest:.2f}x", "<= 2x", ratio_ingest <= 2.0),
        (f"encryption throughput ({len(payload) / 1e6:.1f} MB)", f"{len(payload) / raw_s / 1e6:.0f} MB/s raw",
         f"{len(payload) / env_s / 1e6:.0f} MB/s vault", f"{throughput_ratio:.0%}", ">= 80%",
         throughput_ratio >= 0.8),
    ]
    print(f"{'benchmark':42s} {'baseline':>16s} {'subject':>16s} {'ratio':>7s} {'target':>7s} result")
    for name, b, s, r, t, ok in rows:
        print(f"{name:42s} {b:>16s} {s:>16s} {r:>7s} {t:>7s} {'PASS' if ok else 'FAIL'}")
    if args.rows_json:
        from bench.report import Row, verdict, write_rows

        write_rows(args.rows_json, [Row(f"uploads: {name}", b, s, r, t, verdict(ok)) for name, b, s, r, t, ok in rows])
    return 0 if all(row[-1] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
