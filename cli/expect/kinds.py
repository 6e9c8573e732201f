"""Per kind of expectation: which report items it is about, which of them match it, and how both read in a failure.

`subject` is the loose match (same message kind and recipient, same escalation reason, …): when nothing matches in full,
those items are the "nearest" a failure shows, which is usually what a changed protocol number moved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cli.expect.grammar import EscalationExpect, MessageExpect, RefusalExpect, TimerExpect

Item = dict[str, Any]
Clock = Callable[[str | None, str | None], str]  # (UTC time from the report, patient key) → clinic-local text
TEXTED = ("sent", "delivered")


@dataclass(frozen=True)
class Kind:
    items: Callable[[dict], list[Item]]
    subject: Callable[[Any, Item], bool]
    details: Callable[[Any, Item], bool]
    when: str  # the item's time field that a window applies to
    expected: Callable[[Any], str]
    happened: Callable[[Item, Clock], str]


def _same_patient(body: Any, item: Item) -> bool:
    return body.patient is None or item.get("patient") == body.patient


def _for(body: Any) -> str:
    return f" for {body.patient}" if body.patient else ""


# --- messages ----------------------------------------------------------------------------------------------------

def _reaches(to: str | None, item: Item) -> bool:
    if to is None:
        return True
    if item.get("recipient") == "patient":
        return item.get("patient") == to
    return item.get("staff_role") == to


def _message_status(body: MessageExpect, item: Item) -> bool:
    status = body.status or ("dropped" if body.reason else "sent")
    matches = item["status"] in TEXTED if status == "sent" else item["status"] == status
    return matches and (body.reason is None or item.get("reason") == body.reason)


def _message_text(item: Item, clock: Clock) -> str:
    to = item["patient"] if item.get("recipient") == "patient" else item.get("staff_role") or item["to"]
    status = f"{item['status']} ({item['reason']})" if item.get("reason") else item["status"]
    return f"{item['kind']} to {to} {status} {clock(item['at'], item['patient'])}{_cause(item, clock)}"


def _cause(item: Item, clock: Clock) -> str:
    cause = item.get("cause")
    if not cause:
        return ""
    line = f", line {cause['line']}" if "line" in cause else ""
    return f" (caused by {cause['type']} at {clock(cause['at'], item.get('patient'))}{line})"


MESSAGE = Kind(
    items=lambda report: [m for m in report["messages"] if m["direction"] == "outbound"],
    subject=lambda b, m: m["kind"] == b.kind and _reaches(b.to, m) and _same_patient(b, m),
    details=_message_status,
    when="at",
    expected=lambda b: (f"{b.kind} to {b.to or 'anyone'}{_for(b)} "
                        f"{b.status or ('dropped' if b.reason else 'sent')}{f' ({b.reason})' if b.reason else ''}"),
    happened=_message_text,
)


# --- escalations, refusals, timers -------------------------------------------------------------------------------

def _escalation_details(body: EscalationExpect, item: Item) -> bool:
    wanted = {"severity": body.severity, "tier": body.tier, "status": body.status, "session": body.session}
    if any(value is not None and item.get(key) != value for key, value in wanted.items()):
        return False
    return set(body.paged or ()) <= set(item.get("paged") or ())


def _escalation_expected(body: EscalationExpect) -> str:
    parts = [f"escalation {body.reason}{_for(body)}", f"session {body.session}" if body.session else None,
             body.severity, f"tier {body.tier}" if body.tier else None,
             body.status, f"paging {', '.join(body.paged)}" if body.paged else None]
    return " ".join(part for part in parts if part)


def _escalation_text(item: Item, clock: Clock) -> str:
    paged = f", paged {', '.join(item['paged'])}" if item.get("paged") else ", nobody paged"
    session = f" session {item['session']}" if item.get("session") else ""
    return (f"escalation {item['reason']} for {item['patient']}{session} {item['severity']} tier {item['tier']} {item['status']}"
            f" raised {clock(item['raised_at'], item['patient'])}{paged}{_cause(item, clock)}")


ESCALATION = Kind(
    items=lambda report: report["escalations"],
    subject=lambda b, e: e["reason"] == b.reason and _same_patient(b, e),
    details=_escalation_details,
    when="raised_at",
    expected=_escalation_expected,
    happened=_escalation_text,
)


def _refusal_expected(body: RefusalExpect) -> str:
    rule = f" by rule {body.rule}" if body.rule else ""
    line = f" at line {body.line}" if body.line else ""
    return f"{body.event} refused{rule}{line}{_for(body)}"


REFUSAL = Kind(
    items=lambda report: report["rejected"],
    subject=lambda b, r: r["type"] == b.event and _same_patient(b, r),
    details=lambda b, r: (b.rule is None or r.get("rule") == b.rule) and (b.line is None or r.get("line") == b.line),
    when="at",
    expected=_refusal_expected,
    happened=lambda r, clock: (f"{r['type']} refused at line {r.get('line')} {clock(r['at'], r['patient'])}"
                               f" (rule {r.get('rule') or 'none'}): {r['error'].split(' (')[0]}"),
)


TIMER = Kind(
    items=lambda report: report["timers"],
    subject=lambda b, t: t["kind"] == b.kind and _same_patient(b, t),
    details=lambda b, t: b.status is None or t["status"] == b.status,
    when="due_at",
    expected=lambda b: f"timer {b.kind}{_for(b)}{f' {b.status}' if b.status else ''}",
    happened=lambda t, clock: f"timer {t['kind']} for {t['patient']} due {clock(t['due_at'], t['patient'])} {t['status']}",
)

KINDS = {MessageExpect: MESSAGE, EscalationExpect: ESCALATION, RefusalExpect: REFUSAL, TimerExpect: TIMER}
