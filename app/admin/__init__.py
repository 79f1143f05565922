"""Staff JSON API for the console (issue #9): user lookup, orders and refunds, the rights queue, the dashboard.

Everything here sits behind ``staff_required`` (one permission per endpoint) and shows personal data
masked; every read of a person's data and every privileged action is written to the audit log in the
same transaction as its effect. The rules live in the domain services (accounts, orders, privacy);
these modules find the records, check what only staff actions need, and shape the masked view.
"""
