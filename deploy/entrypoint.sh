#!/bin/sh
# The one entry point of every production process: the container image (Dockerfile), the systemd
# units (systemd/) and the deployment smoke test (tests/deploy) all start the product through it,
# so what is tested is what ships.
#
#   entrypoint.sh migrate                 database migrations + the first policy version (idempotent)
#   entrypoint.sh web                     gunicorn with app.gunicorn_conf (GUNICORN_BIND, GUNICORN_WORKERS)
#   entrypoint.sh worker QUEUE [QUEUE…]   an RQ worker (generation | default | maintenance); WORKER_ARGS adds flags
#   entrypoint.sh scheduler               periodic jobs (a second one is harmless: Redis leases)
#   entrypoint.sh config check            every problem of this environment, without starting anything
#   entrypoint.sh flask ARGS…             any CLI command (staff create-admin, keys rewrap, …)
#
# Configuration comes only from the environment (see .env.example); MIAOHUA_ENV defaults to production.
set -eu

: "${MIAOHUA_ENV:=production}"
export MIAOHUA_ENV
PYTHON="${MIAOHUA_PYTHON:-python}"
cd "${MIAOHUA_HOME:-$(dirname "$0")/..}"

# prometheus_client's multiprocess mode opens files in this folder as soon as the app is imported.
[ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ] && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

command="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$command" in
  migrate)
    "$PYTHON" -m flask --app wsgi:app db upgrade
    exec "$PYTHON" -m flask --app wsgi:app policy init
    ;;
  web)
    if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
      # gunicorn's workers share metrics through this folder: it must start empty each time.
      find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
    fi
    # glibc malloc: photo-sized buffers (>= 1 MiB) are mmapped and given back when freed, at most 2 arenas;
    # with the defaults a web process keeps hundreds of MiB of freed image buffers (docs/uploads.md, "Memory
    # of the web process"; the same values as devkit.devstack.WEB_MALLOC_ENV, kept equal by tests/deploy). The environment
    # may override them.
    : "${MALLOC_ARENA_MAX:=2}" "${MALLOC_MMAP_THRESHOLD_:=1048576}"
    export MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_
    exec "$PYTHON" -m gunicorn -c python:app.gunicorn_conf "$@" wsgi:app
    ;;
  worker)
    [ "$#" -gt 0 ] || { echo "usage: entrypoint.sh worker QUEUE [QUEUE…]" >&2; exit 64; }
    # shellcheck disable=SC2086 # WORKER_ARGS is a list of flags, e.g. "--simple --metrics-port 9101"
    exec "$PYTHON" -m workers ${WORKER_ARGS:-} --queues "$@"
    ;;
  scheduler)
    exec "$PYTHON" -m workers.scheduler
    ;;
  config)
    exec "$PYTHON" -m app.ops.config_cli "$@"
    ;;
  flask)
    exec "$PYTHON" -m flask --app wsgi:app "$@"
    ;;
  *)
    echo "unknown command: $command (migrate | web | worker QUEUE… | scheduler | config check | flask ARGS…)" >&2
    exit 64
    ;;
esac
