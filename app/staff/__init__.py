"""Staff side (issue #9): staff accounts, their sessions, roles and permissions, and the audit log.

Staff are not users: they have their own table, their own login (password + optional TOTP), a
server-side session behind an HttpOnly cookie scoped to ``/admin``, and every read of personal data
or privileged action they take is appended to a hash-chained audit log (policy §7).
"""
