"""The trivial jobs and the raw-Redis listener of the queue-latency benchmark (``bench/generation_queue.py``).

Kept apart and import-light on purpose: a forking RQ worker imports a job's module inside each work
horse, so anything imported here would be counted as queue latency.
"""

from __future__ import annotations

import sys
import time


def stamp() -> float:
    """The RQ job: the wall-clock time at which the job function started."""
    return time.time()


def listen(redis_url: str, key: str) -> None:
    """The baseline: one process blocked in BLPOP on ``key``; for each item it pushes back the time it woke
    up, on ``key + ':reply'``. That is the floor under any Redis queue: a round trip and a process wake-up."""
    from redis import Redis

    conn = Redis.from_url(redis_url, socket_timeout=30)
    while True:
        popped = conn.blpop([key], timeout=5)  # wakes at once on a push; the timeout only bounds the socket read
        if popped is None:
            continue
        if popped[1] == b"stop":
            return
        conn.rpush(f"{key}:reply", repr(time.time()))


if __name__ == "__main__":
    listen(sys.argv[1], sys.argv[2])
