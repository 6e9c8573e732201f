"""Twilio status callbacks: record queued/sent/delivered/undelivered/failed against our message id, forward only.

The HTTP route (`api/routes/webhooks.py`, with `X-Twilio-Signature` validation) calls this. A callback is
also how a send whose worker died after Twilio accepted it is reconciled: it moves the row to `sent`, so the sweeper
leaves it alone instead of sending it again.

A callback counts only with the MessageSid stored for the message (or, when none is stored yet, the first one seen);
each (MessageSid, status) is recorded once (`models/outbox.py`, `message_receipts`); `delivered` is final. A failure
reported after `delivered` goes into the patient's history (`sms.undeliverable`: a coordinator checks the number),
not onto the message.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from models.inbox import report_to_workflow
from models.numbers import report_to_number
from models.outbox import Receipt, record_provider_status
from models.store import ConcurrencyConflict
from workers.runtime import Services
from workflows.errors import Rejected

log = logging.getLogger("carepath.status")
CARRIER_OPT_OUT = "21610"
REPORT_ATTEMPTS = 3  # each report is idempotent by its key; a conflict with a busy workflow is simply tried again


def handle_status_callback(svc: Services, message_id: str, params: dict[str, str], now: datetime | None = None) -> str | None:
    """Apply one (already signature-checked) callback; returns the message's status, or None when it was ignored."""
    now = now or datetime.now(UTC)
    provider_status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    provider_id = params.get("MessageSid") or params.get("SmsSid")
    error_code = params.get("ErrorCode") or None
    receipt = svc.run(record_provider_status, message_id, provider_status, provider_id, error_code, now)
    if not receipt.new:
        # Another message's SID on our message id is not a receipt for it: a misrouted or forged callback.
        level = logging.WARNING if receipt.outcome == "wrong_sid" else logging.INFO
        log.log(level, "status callback for message %s ignored: %s (sid %s)", message_id, receipt.outcome,
                provider_id or "-")
        return receipt.status if receipt.outcome == "repeat" else None
    if error_code == CARRIER_OPT_OUT:
        _report(lambda: report_to_number(svc.store, message_id, "sms.opted_out_at_carrier", error_code, now),
                message_id)
    elif receipt.outcome == "late_failure" and receipt.workflow_id:
        _report(lambda: report_to_workflow(svc.store, receipt.workflow_id, "sms.undeliverable", message_id, error_code,
                                           now), message_id)
    _log(message_id, provider_status, receipt)
    return receipt.status


def _report(report, message_id: str) -> None:
    for attempt in range(REPORT_ATTEMPTS):
        try:
            report()
            return
        except ConcurrencyConflict:
            if attempt == REPORT_ATTEMPTS - 1:
                raise
        except Rejected as exc:  # e.g. the same report made earlier with another code: the history has it already
            log.info("report for message %s not recorded: %s", message_id, exc.rule or exc.code)
            return


def _log(message_id: str, provider_status: str, receipt: Receipt) -> None:
    if receipt.outcome == "late_failure":
        log.warning("message %s: %s after delivered, kept delivered and recorded in the history", message_id,
                    provider_status)
    else:
        log.info("message %s status %s", message_id, receipt.status)
