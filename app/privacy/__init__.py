"""User rights and retention (policy §5, §8): deletion receipts now; export and cancellation later."""
