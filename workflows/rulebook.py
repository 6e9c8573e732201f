"""The protocol rules by id, each with its plain name and the PROTOCOL.md section it comes from: one declaration.

Ids are the engine's own names for why something happens: a refusal's rule (`Rejected.rule`), a timer's kind, a
message's kind, a worklist item's reason. Where two of those are the same rule (the `no_show` timer, the "we missed
you" text it sends and the coordinator's `no_show` item) they share one id. The console shows the name and the
section in "Why" and "Details for support"; staff never read the id itself.
"""

from __future__ import annotations

from dataclasses import dataclass

# PROTOCOL.md's numbered sections, by number.
SECTIONS = {
    1: "Who does what",
    2: "Stages of a patient's workflow",
    3: "Sessions",
    4: "Instruments",
    5: "Messages to patients",
    6: "Escalations",
    7: "What must hold, whatever happens",
}


@dataclass(frozen=True)
class Rule:
    name: str  # plain words, as staff read them
    section: int  # the PROTOCOL.md section it comes from

    @property
    def where(self) -> str:
        """The section as a reader finds it: "PROTOCOL.md §5 Messages to patients"."""
        return f"PROTOCOL.md §{self.section} {SECTIONS[self.section]}"


def _rules(section: int, **names: str) -> dict[str, Rule]:
    return {rule_id: Rule(name, section) for rule_id, name in names.items()}


RULES: dict[str, Rule] = {
    **_rules(
        1,
        role_may_post="Who may record what",
        system_event="Timers' events are carepath's own",
    ),
    **_rules(
        2,
        workflow_start="A referral starts a workflow",
        stage_allows_event="What each stage allows",
        date_of_birth_plausible="Referral intake checks",
        referral_contact="Contact a new referral within 2 business days",
        treatment_resistance_review="Fewer than 2 prior treatments: clinician review",
        evaluation_not_before_booked="An evaluation is recorded at or after its booked time",
        route_planned="Sessions follow an eligible evaluation and its route",
        response_review="Response review at the end of induction",
        paused_session="Sessions under a safety hold: reminders suspended, coordinators call",
        assessment_due="PCL-5 and PHQ-9 due every 4 weeks in maintenance",
        pcl5_due="PCL-5 and PHQ-9 due every 4 weeks in maintenance",
        phq9_due="PCL-5 and PHQ-9 due every 4 weeks in maintenance",
    ),
    **_rules(
        3,
        start_in_future="A visit is booked in the future",
        session_unique="Each session is booked once",
        appointment_unique="Each appointment is booked once",
        session_exists="A session must exist to act on it",
        session_open="A session's lifecycle",
        session_arrived="A dose needs an arrived session",
        session_at_chair="Vitals need a session at the chair",
        session_dosed="Only a dosed session is discharged",
        vitals_phase="BP readings required per route",
        bp_readings="BP readings required per route",
        charted_in_order="Readings and doses are charted in order",
        dose_rule="Dose rule per route",
        one_dose_at_a_time="One monitored patient per chair",
        bp_pre_dose="Pre-dose BP gate",
        bp_recheck="Pre-dose BP gate: one re-check within 30 minutes",
        bp_hold="Pre-dose BP gate: still elevated holds the session",
        bp_critical="Any reading at or above 180/120: urgent escalation",
        min_monitoring="Minimum monitoring time",
        sedation_resolved="Discharge waits for sedation to resolve",
        dissociation_resolved="Discharge waits for dissociation to resolve",
        respiratory_resolved="Discharge waits for respiratory depression to resolve",
        ride_home="Before dosing: ride home confirmed",
        fasting="Before dosing: fasting window",
        rems_enrollment="Before dosing: REMS enrollment on file",
        rems_enrollment_check="REMS enrollment checked 48 h before the first esketamine session",
        rems_enrollment_missing="REMS enrollment checked 48 h before the first esketamine session",
        rems_form_session="REMS monitoring form: one per esketamine session",
        rems_form_once="REMS monitoring form: one per esketamine session",
        rems_form_due="REMS monitoring form due within 7 days: task at discharge, reminder on day 5",
        rems_form_reminder="REMS monitoring form due within 7 days: task at discharge, reminder on day 5",
        rems_form_overdue="REMS monitoring form not sent by day 7: medical director",
        confirmation_check="Unconfirmed 24 h before: call to confirm",
        confirmation_missing="Unconfirmed 24 h before: call to confirm",
        no_show="No-show: not arrived 30 minutes after the start",
        spo2_low="Pulse oximetry below the clinic's alert level: clinician review",
        chair_known="Bookings name one of the clinic's chairs or rooms",
        provider_known="Bookings name one of the clinic's providers",
        chair_one_patient="One patient per chair or room at a time",
        provider_on_site="A provider is on site at one clinic at a time",
        provider_one_appointment="A provider sees one evaluation or therapy patient at a time",
        esketamine_provider_on_site="A provider on site for esketamine dosing",
    ),
    **_rules(
        4,
        instrument_answers="Instrument items and ranges",
        phq9_item9="PHQ-9 item 9 above 0: urgent escalation and a C-SSRS",
        cssrs_requested="PHQ-9 item 9 above 0: urgent escalation and a C-SSRS",
        cssrs_low="C-SSRS low: routine clinician review",
        cssrs_moderate="C-SSRS moderate: urgent escalation",
        cssrs_high="C-SSRS high: emergency escalation and safety hold",
    ),
    **_rules(
        5,
        reminder="Reminders 72 h, 24 h and 2 h before a visit",
        session_reminder="Reminders 72 h, 24 h and 2 h before a visit",
        evaluation_reminder="Reminders 72 h, 24 h and 2 h before a visit",
        therapy_reminder="Reminders 72 h, 24 h and 2 h before a visit",
        confirm_request="Reminders ask for digits only: 1 to confirm, 2 to reschedule",
        question_expiry="One question to the patient at a time",
        checkin="Check-in the day after each discharged session, at 10:00",
        reply_ack="Replies: 1 confirms, 2 asks to reschedule, 0–10 answers the check-in",
        clarify="Replies: an unreadable reply gets one “please reply with a number”",
        reschedule_request="Replies: 2 asks to reschedule (coordinator task)",
        low_checkin="Replies: a check-in score of 3 or less, clinician review the same day",
        opted_out="Keywords: STOP opts out at once, coordinator switches to phone",
        opt_in_confirm="Keywords: START opts in again",
        help="Keywords: HELP gets the clinic's name, phone and the crisis line",
        crisis="Crisis language: emergency escalation and the crisis line at once",
        crisis_language="Crisis language: emergency escalation and the crisis line at once",
        call_patient="Consent: without SMS, a coordinator calls instead",
        sms_consent="Consent: SMS only with consent recorded",
        sms_opted_out="Keywords: nothing is sent after STOP",
        sms_content="Content: never a drug name, diagnosis or score",
        phone_unreachable="Consent: a number that cannot take texts gets a call instead",
        staff_message="Texts staff write to the patient",
    ),
    **_rules(
        6,
        checkin_nudge="Missed check-in: one nudge after 6 h",
        checkin_missed="Missed check-in: no reply in 24 h (6 h at elevated risk), urgent escalation",
        escalation_deadline="Unacknowledged escalations go to tier 2",
        escalation_exists="Every escalation is a worklist item",
        escalation_open="Acknowledging stops the ladder; resolving closes the item",
        staff_alert="Staff texts say only what is needed",
        rota_gap="On-call cover for escalations",
    ),
    **_rules(
        7,
        occurred_at_past="Every change is an event with its time",
        event_known="Every change is an event in the history",
    ),
}


def rule(rule_id: str | None) -> Rule | None:
    """The rule by id; None for an id the protocol does not declare (an API check such as `clinic_scope`)."""
    return RULES.get(rule_id or "")
