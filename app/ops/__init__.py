"""Operations: diagnostics that prove the deployment works end to end (queue probes)."""
