"""Notices to users (policy §6, §7): incident notifications, company transfer and shutdown announcements.

Staff with ``notices.send`` write a notice, choose whom it concerns (everyone; whoever had data of a class
in a time window; or a list of users) and send it. Sending runs as an RQ job (``tasks.send_notice``) that
records one delivery per person — the in-app notice the mini-program shows on next open — and tells each
through WeChat (a subscribe message, where the user allowed one) or, failing that, SMS to the bound phone.
A delivery row remembers what each channel did and when, so the job can resume after a crash and never
tells anyone twice. The runbook is ``docs/incident-response.md``.
"""
