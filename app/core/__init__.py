"""Cross-cutting pieces every domain uses: database base, errors, API conventions, queues, logging."""
