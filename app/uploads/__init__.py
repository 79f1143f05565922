"""Portrait uploads: validation, metadata stripping, face quality, content safety, encrypted storage (§2.1)."""
