"""Domain events: one domain announces, others react, without importing each other.

Receivers run synchronously in the request, inside its transaction; slow work goes to a job.
- ``consent_withdrawn(user_id, purpose)``: the user withdrew consent for ``purpose``.
- ``face_data_deletion_required(user_id, reason)``: every portrait, avatar and queued face job of
  this user must go (withdrawn face consent, a minor found without guardian consent, …).
- ``account_cancelled(user_id)``: the account is being deleted in this transaction; domains destroy
  the files they hold for it (exports, avatars) before the rows go.
- ``generation_job_ended(job_id, user_id, status)``: a generation job ended (succeeded, failed,
  cancelled); orders return what a job that did not succeed consumed.
- ``payment_notification_rejected(reason)``: a WeChat Pay notification failed verification (forged,
  stale, unknown serial, …); monitoring counts these.
"""

from blinker import Namespace

signals = Namespace()

consent_withdrawn = signals.signal("consent-withdrawn")
face_data_deletion_required = signals.signal("face-data-deletion-required")
generation_job_ended = signals.signal("generation-job-ended")
account_cancelled = signals.signal("account-cancelled")
payment_notification_rejected = signals.signal("payment-notification-rejected")
