"""Object storage behind one interface: the local filesystem (default) or S3-compatible storage.

Only ciphertext is ever handed to a store (see ``app.core.vault``). Writes are atomic: a reader
sees the whole object or nothing — the local store writes a temporary file in the same directory,
fsyncs it and renames it into place; S3 ``PutObject`` is atomic by itself.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

_KEY = re.compile(r"^[a-z0-9][a-z0-9/_-]{0,200}$")


class ObjectMissing(Exception):
    pass


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def keys(self, prefix: str) -> list[str]: ...


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid object key {key!r}")
    return key


class LocalObjectStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder, ``…/``), sorted."""
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        return sorted(path.relative_to(self.root).as_posix() for path in folder.rglob("*")
                      if path.is_file() and not path.name.startswith(".incoming-"))


class S3ObjectStore:
    def __init__(self, bucket: str, *, endpoint_url: str | None, region: str | None,
                 access_key: str | None = None, secret_key: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10),
        )

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=data)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=check_key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise ObjectMissing(key) from exc

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted (ListObjectsV2, page by page)."""
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=check_key(prefix.rstrip("/")) + "/"):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)


def object_store(app: Flask | None = None) -> ObjectStore:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    store = app.extensions.get("object_store")
    if store is None:
        config = app.config
        if config["STORAGE_BACKEND"] == "s3":
            store = S3ObjectStore(config["S3_BUCKET"], endpoint_url=config["S3_ENDPOINT_URL"],
                                  region=config["S3_REGION"], access_key=config["S3_ACCESS_KEY_ID"],
                                  secret_key=config["S3_SECRET_ACCESS_KEY"])
        else:
            store = LocalObjectStore(config["STORAGE_LOCAL_ROOT"])
        app.extensions["object_store"] = store
    return store
