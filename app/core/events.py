"""Domain events: one domain announces, others react, without importing each other.

Receivers run synchronously in the request, inside its transaction; slow work goes to a job.
Personal data is not handled here: consent withdrawal and account cancellation reach every domain
through the lifecycle registry (app.core.lifecycle), which cannot forget one.
- ``account_cancelled(user_id)``: the account is about to be erased in this transaction (for observers).
- ``generation_job_ended(job_id, user_id, status, duration_s)``: a generation job ended (succeeded, failed,
  cancelled); orders return what a job that did not succeed consumed.
- ``payment_notification_rejected(reason)``: a WeChat Pay notification failed verification (forged,
  stale, unknown serial, …); monitoring counts these.
"""

from blinker import Namespace

signals = Namespace()

generation_job_ended = signals.signal("generation-job-ended")
account_cancelled = signals.signal("account-cancelled")
payment_notification_rejected = signals.signal("payment-notification-rejected")
