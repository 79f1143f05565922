"""Generation: style catalogue, jobs on the generation queue, results, and source-photo deletion (§2.1)."""
