"""Whether the roles a page goes to are covered, now and over the next hours, and how to say so in plain words.

A gap (nobody on call, no medical director) means a page at that moment reaches nobody, so it is shown on the ops
dashboard and the clinic manager is texted once per gap, before it starts (`workers.rota_watch`). A role the rota
names is covered where a line holds it; a role it does not name falls back to the clinic's one number, which covers
every hour, and a role with neither is one long gap.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workflows.clinic import Clinic
from workflows.rota import COVERED_ROLES, Gap

# How far back a gap's true start is looked for: a gap already under way keeps its own start (and so its alert's
# dedupe key) from tick to tick. Anchored to a local Monday so a role nobody ever holds is re-announced once a week.
LOOKBACK_WEEKS = 1
# The clinic manager's text when a catalog (CAREPATH_MESSAGES_FILE) has no `rota_gap` template of its own.
ROTA_GAP_ALERT = "carepath: {clinic} has no {label} on the rota from {when}. Please fill the gap."
ROLE_WORDS = {"on_call": "on-call doctor", "medical_director": "medical director", "clinic_manager": "clinic manager"}


def covered_now(clinic: Clinic, now: datetime, roles: tuple[str, ...] = COVERED_ROLES) -> dict[str, bool]:
    """Each role a page goes to, and whether someone holds it at this moment (never who: ops see no phones)."""
    return {role: clinic.staff_number(role, now) is not None for role in roles}


def upcoming_gaps(clinic: Clinic, now: datetime, hours: int, roles: tuple[str, ...] = COVERED_ROLES) -> list[Gap]:
    """The gaps under way now or starting within `hours`, each with its true start (which may be before now)."""
    horizon = now + timedelta(hours=hours)
    anchor = _lookback_anchor(now, clinic.timezone)
    found: list[Gap] = []
    for role in roles:
        if any(line.role == role for line in clinic.rota.lines):
            found += clinic.rota.gaps(anchor, horizon, clinic.timezone, roles=(role,))
        elif getattr(clinic.staff, role, None) is None:
            found.append(Gap(role=role, start=anchor, end=horizon))
    return sorted((gap for gap in found if gap.end > now), key=lambda gap: (gap.start, gap.role))


def _lookback_anchor(now: datetime, zone: str) -> datetime:
    today = now.astimezone(ZoneInfo(zone)).date()
    monday = today - timedelta(days=today.weekday(), weeks=LOOKBACK_WEEKS)
    return datetime.combine(monday, time(0), tzinfo=ZoneInfo(zone))


def gap_key(gap: Gap) -> str:
    """The durable dedupe key of a gap's alert: one text per role and start, however many ticks see it."""
    return f"rota_gap:{gap.role}:{gap.start.astimezone(UTC).isoformat()}"


def local_words(moment: datetime, zone: str) -> str:
    """A clinic-local time as people say it: "Sat 18:00"."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")


def describe(gap: Gap, zone: str, now: datetime, horizon: datetime | None = None) -> str:
    """The gap in plain words: "No on-call doctor from Sat 18:00 to Sun 08:00" ("from now" once it has begun)."""
    start = "now" if gap.start <= now else local_words(gap.start, zone)
    # A gap that reaches the end of the window looked at may go on beyond it: say so rather than invent an end.
    end = f"at least {local_words(gap.end, zone)}" if horizon is not None and gap.end >= horizon else \
        local_words(gap.end, zone)
    return f"No {ROLE_WORDS.get(gap.role, gap.role)} from {start} to {end}"


def gap_alert(clinic: Clinic, gap: Gap, now: datetime) -> str:
    """The clinic manager's text about one gap: the role and its clinic-local start. No patient, no phone."""
    when = "now" if gap.start <= now else local_words(gap.start, clinic.timezone)
    values = {"clinic": clinic.name, "label": ROLE_WORDS[gap.role], "when": when}
    if "rota_gap" in clinic.catalog.templates:
        return clinic.catalog.render("rota_gap", **values)[1]
    return ROTA_GAP_ALERT.format(**values)
