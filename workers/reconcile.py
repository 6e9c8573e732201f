"""Reconciling sends whose outcome is unknown: ask the provider before sending anything again.

A `sending` row older than the send grace has no recorded outcome and got no status callback. Its worker died, or its
request timed out, either before the provider took the message or after (the answer and the callback lost). Only the
provider can tell which, so the scheduler asks it (`SmsGateway.find_sent`) for each such row:

- the provider has it → `sent`, with the provider's id: the patient already has the text, it is not sent again;
- it has not → back to `pending`, handed out and sent again like any due message;
- it cannot say (unreachable, failing, refusing) → left `sending`, asked again next tick. A resend is never a guess.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.outbox import mark_sent, return_to_pending, stale_sends
from models.tables import OutboxMessage
from workers.runtime import Services
from workers.sms_errors import SmsError, TransientSmsError

log = logging.getLogger("carepath.reconcile")

# The provider stamps a message with its own clock; look this far before our claim so a clock a little behind still
# finds it. A lookup matches on number and text only, so an identical text to the same number accepted from then on
# (two HELP replies in a row) counts too: the patient then gets one such text where two were due, never two for one.
CLOCK_SKEW = timedelta(seconds=5)


@dataclass
class Reconciled:
    found: int = 0  # the provider had them: marked sent
    resent: int = 0  # it had not: back to pending
    unsettled: int = 0  # it could not say: left `sending` for the next tick


def reconcile_stale_sends(svc: Services, now: datetime) -> Reconciled:
    """Settle the stale sends, oldest first, up to a batch a tick."""
    result = Reconciled()
    stale = svc.run(stale_sends, now, svc.settings.send_grace_seconds)
    for done, message in enumerate(stale):
        try:
            provider_id = svc.gateway.find_sent(message.id, message.to_phone, message.body,
                                                message.claimed_at - CLOCK_SKEW)
        except TransientSmsError as exc:
            # Unreachable or failing: the rest would only wait out the same timeouts. All of them next tick.
            log.warning("stale send %s not reconciled, provider unavailable (code %s)", message.id, _code(exc))
            result.unsettled += len(stale) - done
            break
        except SmsError as exc:
            log.warning("stale send %s not reconciled, provider refused the lookup (code %s)", message.id, _code(exc))
            result.unsettled += 1
            continue
        _settle(svc, message, provider_id, now, result)
    if result.found or result.resent or result.unsettled:
        log.info("stale sends: %d found at the provider, %d to resend, %d unsettled", result.found, result.resent,
                 result.unsettled)
    return result


def _settle(svc: Services, message: OutboxMessage, provider_id: str | None, now: datetime, result: Reconciled) -> None:
    # Both updates are conditional on the row still being in the claim just looked up: a status callback or another
    # scheduler may have settled it meanwhile, and then this answer is stale.
    if provider_id:
        if svc.run(mark_sent, message.id, provider_id, now, message.claimed_at):
            result.found += 1
            log.info("stale send %s was accepted by the provider (provider_id %s): marked sent", message.id, provider_id)
    elif svc.run(return_to_pending, message.id, message.claimed_at):
        result.resent += 1
        log.info("stale send %s unknown to the provider: returned to pending", message.id)


def _code(exc: SmsError) -> str:
    return str(exc.code or exc.status or "unknown")
