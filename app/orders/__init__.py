"""Orders and WeChat Pay API v3: products, prepay, notifications, refunds, entitlements (policy §2.2)."""
