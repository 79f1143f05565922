"""The transaction boundary: services add, change and flush; the request or the job commits.

``transactional`` wraps a view (under ``@endpoint``) or a job function: what the call did is committed
when it returns and rolled back when it raises, so a service can be composed with others (the consent
withdrawal that deletes results, the cancellation that erases every domain) without one of them
committing half of the work. A service that must commit on its own says why in a comment (progress
writes of a long job, a row that must exist before a message goes out, a counted wrong guess).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from app.extensions import db

F = TypeVar("F", bound=Callable[..., Any])


def transactional(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        return result

    return wrapper  # type: ignore[return-value]
