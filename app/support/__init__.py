"""Support tickets (policy §2.2 customer service and disputes): users ask, staff answer; closed tickets expire.

User API (bearer login; reachable without accepting the current policy, so someone who refuses it can
still complain): ``POST /api/v1/tickets {category, subject, body, order_no?, job_id?}``,
``GET /api/v1/tickets`` (mine, newest first, with ``has_unread_staff_reply``), ``GET /api/v1/tickets/<id>``
(the thread; marks staff replies read), ``POST /api/v1/tickets/<id>/messages {body}``,
``POST /api/v1/tickets/<id>/close``. Categories: order_dispute, generation_quality, account, privacy, other.
Subject ≤ 100 characters, body ≤ 2000, both through WeChat's text check; at most ``TICKET_MAX_OPEN_PER_USER``
tickets open or waiting for the user; messages (new tickets included) limited by ``RATE_LIMIT_TICKET_MESSAGES``
(default 6/minute, 60/day).

Staff API (``/admin/api``, ``tickets.read`` / ``tickets.write``): ``GET /tickets?status=&category=&assigned=
me|none|<username>&cursor=&limit=`` (masked: subject and phone masked, no bodies), ``GET /tickets/<id>``
(the thread; audit ``ticket.view``), ``POST /tickets/<id>/messages {body}`` (→ waiting_user; ``ticket.reply``),
``POST /tickets/<id>/status {status, note?}`` (``ticket.status``, the note as the reason),
``POST /tickets/<id>/assign {username|null}`` (``ticket.assign``). A linked order shows its number, amount and
status; refunds go through the orders admin API.

Statuses: open → waiting_user → resolved → closed; a user reply to waiting_user or resolved reopens it; closed
is final. Resolved tickets close after ``TICKET_AUTO_CLOSE_DAYS`` (14) idle; closed ones are deleted
``RETENTION["support_tickets"]`` (365) days later; cancelling the account deletes them at once (cascade).
Error codes: ticket_not_found, ticket_transition_invalid, too_many_open_tickets, assignee_invalid, plus
order_not_found, job_not_found, content_rejected, rate_limited, validation_error.
"""
