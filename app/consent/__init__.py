"""Privacy policy versions, per-purpose consent, age declarations and guardian consent (§8, §9, §10)."""
