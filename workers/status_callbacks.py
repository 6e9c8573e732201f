"""Twilio status callbacks: record queued/sent/delivered/undelivered/failed against our message id.

The HTTP route (`api/routes/webhooks.py`, with `X-Twilio-Signature` validation) calls this. A callback is
also how a send whose worker died after Twilio accepted it is reconciled: it moves the row to `sent`, so the sweeper
leaves it alone instead of sending it again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from models.inbox import report_to_workflow
from models.outbox import record_provider_status
from models.tables import OutboxMessage
from workers.runtime import Services

log = logging.getLogger("carepath.status")
CARRIER_OPT_OUT = "21610"


def handle_status_callback(svc: Services, message_id: str, params: dict[str, str], now: datetime | None = None) -> str | None:
    """Apply one (already signature-checked) callback; returns the message's status, or None for an unknown id."""
    now = now or datetime.now(UTC)
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    provider_id = params.get("MessageSid") or params.get("SmsSid")
    error_code = params.get("ErrorCode") or None
    with svc.unit_of_work() as uow:
        result = record_provider_status(uow, message_id, status, provider_id, error_code, now)
        workflow_id = uow.db.get(OutboxMessage, message_id).workflow_id if result is not None else None
        uow.commit()
    if result is None:
        log.info("status callback for unknown message or status ignored (message %s)", message_id)
        return None
    if error_code == CARRIER_OPT_OUT:
        report_to_workflow(svc.store, workflow_id, "sms.opted_out_at_carrier", message_id, error_code, now)
    log.info("message %s status %s", message_id, result)
    return result
