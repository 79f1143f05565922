"""Counting what reaches the database: the SQL statements a block of test code makes the app send."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flask import Flask
from sqlalchemy import event

from app.extensions import db


@contextlib.contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements sent to the app's database while the block runs, in order."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
