"""RQ worker entry points. ``python -m workers --queues generation`` runs a worker process."""
