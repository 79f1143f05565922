"""Queue positions in O(1) per poll: a sequence number per job in RQ and a moving head.

RQ's own position lookup (``Queue.get_job_ids`` + an index) reads the whole Redis list: a poll cost
that grows with the queue. Instead, in the queue's Redis:

- ``generation:pos:seq``: the last sequence number handed out. A job takes the next one when its RQ
  job is pushed, in the same MULTI/EXEC as RQ's push (``enter``), so sequence order is RQ order.
- ``generation:pos:of``: RQ job id → its sequence number, while the job waits in RQ.
- ``generation:pos:head``: the lowest sequence number that may still be waiting; every one below it
  has left the queue.
- ``generation:pos:gone``: sequence numbers above the head that left out of order (a cancelled job, a
  lost one re-entering at the tail, a job started before one ahead of it).

A job *leaves* (``leave``) when a worker starts it, when it is cancelled while waiting, and when it
re-enters (the sweep re-enqueues a job RQ lost: it takes a new number at the tail). Leaving adds the
number to ``gone`` and moves the head up over every number in ``gone`` just above it, so each
number is passed over once (amortised O(1)) and ``gone`` only holds the out-of-order leavers still
behind the head. A waiting job's place is then

    place = seq − head + 1 − |gone ∩ [head, seq)|

one ``HGET``, one ``GET`` and one ``ZCOUNT`` (O(log g), g = out-of-order leavers not yet passed:
cancellations in the waiting window). The number of jobs in RQ is ``last seq − head + 1 − |gone|``.

The rows stay the source of truth: ``reconcile`` (called by the generation sweep) makes every entry
whose row no longer waits in RQ leave, so a leave lost to a crash between a commit and Redis (a
worker killed right after it started a job) cannot hold the head back for longer than a sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redis import Redis
from redis.client import Pipeline
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from app.core.jobs import GENERATION_QUEUE

SEQ_KEY = "generation:pos:seq"
OF_KEY = "generation:pos:of"
HEAD_KEY = "generation:pos:head"
GONE_KEY = "generation:pos:gone"
WORKERS_KEY = WORKERS_BY_QUEUE_KEY % GENERATION_QUEUE
_KEYS = [SEQ_KEY, OF_KEY, HEAD_KEY, GONE_KEY]

# Moves the head over the numbers that left just above it (KEYS as _KEYS).
_ADVANCE = """
local head = tonumber(redis.call('GET', KEYS[3]) or '1')
while redis.call('ZSCORE', KEYS[4], head) do
  redis.call('ZREM', KEYS[4], head)
  head = head + 1
end
redis.call('SET', KEYS[3], head)
"""

# ARGV[1]: the RQ job id. A job already in the map (re-entering) first leaves its old place.
_ENTER = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then redis.call('ZADD', KEYS[4], old, old) end
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], seq)
""" + _ADVANCE + "return seq"

# ARGV: RQ job ids. Returns how many were waiting (and now have left).
_LEAVE = """
local left = 0
for _, id in ipairs(ARGV) do
  local seq = redis.call('HGET', KEYS[2], id)
  if seq then
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZADD', KEYS[4], seq, seq)
    left = left + 1
  end
end
if left > 0 then
""" + _ADVANCE + """
end
return left
"""

# ARGV: RQ job ids. Returns {jobs in RQ, workers, place of each id (0 = not in RQ)}; KEYS[5]: the workers set.
_PLACES = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local head = tonumber(redis.call('GET', KEYS[3]) or '1')
local out = {last - head + 1 - redis.call('ZCARD', KEYS[4]), redis.call('SCARD', KEYS[5])}
for _, id in ipairs(ARGV) do
  local seq = tonumber(redis.call('HGET', KEYS[2], id) or '0')
  if seq > 0 then
    out[#out + 1] = seq - head + 1 - redis.call('ZCOUNT', KEYS[4], '-inf', '(' .. seq)
  else
    out[#out + 1] = 0
  end
end
return out
"""


@dataclass(frozen=True)
class Snapshot:
    in_rq: int  # jobs waiting in RQ
    workers: int  # generation workers registered (RQ's set of them)
    places: tuple[int | None, ...]  # 1 = next to start; None = not waiting in RQ


def enter(pipe: Pipeline, rq_job_id: str) -> None:
    """Take the next number for ``rq_job_id``, queued on ``pipe`` next to RQ's push (``Task.on_enqueue``)."""
    pipe.eval(_ENTER, len(_KEYS), *_KEYS, rq_job_id)


def leave(conn: Redis, *rq_job_ids: str) -> int:
    """These jobs no longer wait in RQ (started, cancelled); idempotent. Returns how many were waiting."""
    if not rq_job_ids:
        return 0
    return int(conn.eval(_LEAVE, len(_KEYS), *_KEYS, *rq_job_ids))


def snapshot(conn: Redis, rq_job_ids: Iterable[str] = ()) -> Snapshot:
    ids = list(rq_job_ids)
    in_rq, workers, *places = conn.eval(_PLACES, len(_KEYS) + 1, *_KEYS, WORKERS_KEY, *ids)
    return Snapshot(in_rq=max(0, int(in_rq)), workers=int(workers),
                    places=tuple(int(p) if int(p) > 0 else None for p in places))


def entries(conn: Redis) -> list[str]:
    """The RQ job ids that hold a number now (read them *before* the rows ``reconcile`` compares with)."""
    return [key.decode() if isinstance(key, bytes) else key for key in conn.hkeys(OF_KEY)]


def reconcile(conn: Redis, numbered: list[str], waiting_rq_job_ids: set[str]) -> int:
    """Of ``numbered`` (``entries``, read before the rows were), those whose row no longer waits in RQ
    leave; returns how many. Reading the entries first means a job that entered meanwhile is never
    among them: it committed its row before it entered. O(jobs in RQ), for the sweep only."""
    stale = [rq_id for rq_id in numbered if rq_id not in waiting_rq_job_ids]
    left = 0
    for start in range(0, len(stale), 1000):
        left += leave(conn, *stale[start:start + 1000])
    return left
