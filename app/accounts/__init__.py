"""Accounts: WeChat and SMS login, phone binding, profile, sessions and risk control (policy §2.1, §4, §7)."""
