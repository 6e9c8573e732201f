"""The protocol: every clinical number the pathway uses, as one validated, versioned model.

The YAML file that carries these values is loaded by `config.protocol`; this module only defines the shape and the
checks, so the pure core can take a `Protocol` without knowing where it came from.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.instruments import InstrumentRules


class Route(StrEnum):
    ESKETAMINE = "esketamine"
    IV_KETAMINE = "iv_ketamine"
    IM_KETAMINE = "im_ketamine"


class Strict(BaseModel):
    # Unknown keys are refused so a typo in the protocol file cannot silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BloodPressure(Strict):
    systolic: int = Field(gt=0, lt=300)
    diastolic: int = Field(gt=0, lt=250)


class RouteRules(Strict):
    """What differs between esketamine, IV and IM ketamine (PROTOCOL.md §3)."""

    induction_sessions: int = Field(ge=1, le=50)
    # Dose rules: esketamine is fixed mg, ketamine is mg/kg.
    allowed_doses_mg: tuple[int, ...] = ()
    first_dose_mg: int | None = None
    first_dose_mg_older: int | None = None
    older_age: int = Field(default=65, ge=18, le=120)
    max_dose_step_mg: int | None = None
    dose_mg_per_kg_min: float | None = Field(default=None, gt=0)
    dose_mg_per_kg_max: float | None = Field(default=None, gt=0)
    standard_dose_mg_per_kg: float | None = Field(default=None, gt=0)  # used when a session names no dose
    # Gates before dosing.
    requires_rems_enrollment: bool = False
    requires_ride_home: bool = False
    requires_fasting: bool = True
    # Monitoring and discharge.
    infusion_minutes: int = Field(default=0, ge=0, le=240)
    min_monitoring_minutes: int = Field(ge=0, le=24 * 60)
    required_bp_phases: tuple[str, ...] = ("pre_dose", "pre_discharge")
    # Respiratory depression recorded after the dose must be seen resolved before discharge (Spravato label).
    monitors_respiratory: bool = False
    post_dose_window_minutes: tuple[int, int] = (35, 50)
    # After discharge.
    rems_form: bool = False

    @model_validator(mode="after")
    def _dose_rule_is_complete(self) -> RouteRules:
        if self.allowed_doses_mg:
            if self.first_dose_mg not in self.allowed_doses_mg:
                raise ValueError("first_dose_mg must be one of allowed_doses_mg")
            if self.first_dose_mg_older is not None and self.first_dose_mg_older not in self.allowed_doses_mg:
                raise ValueError("first_dose_mg_older must be one of allowed_doses_mg")
        elif self.dose_mg_per_kg_min is None or self.dose_mg_per_kg_max is None:
            raise ValueError("a route needs either allowed_doses_mg or dose_mg_per_kg_min and dose_mg_per_kg_max")
        if self.dose_mg_per_kg_min is not None and self.dose_mg_per_kg_max is not None:
            if self.dose_mg_per_kg_min > self.dose_mg_per_kg_max:
                raise ValueError("dose_mg_per_kg_min must not exceed dose_mg_per_kg_max")
        unknown = set(self.required_bp_phases) - {"pre_dose", "post_dose", "pre_discharge"}
        if unknown:
            raise ValueError(f"required_bp_phases has unknown phases {sorted(unknown)}")
        low, high = self.post_dose_window_minutes
        if not 0 <= low <= high:
            raise ValueError("post_dose_window_minutes must be [low, high] with 0 <= low <= high")
        return self


class SessionRules(Strict):
    """Timing rules shared by every route."""

    pre_dose_hold: BloodPressure = BloodPressure(systolic=140, diastolic=90)
    critical_bp: BloodPressure = BloodPressure(systolic=180, diastolic=120)
    bp_recheck_minutes: int = Field(default=30, ge=1, le=240)
    no_show_after_minutes: int = Field(default=30, ge=1, le=24 * 60)
    confirmation_check_hours: int = Field(default=24, ge=1, le=14 * 24)
    rems_enrollment_check_hours: int = Field(default=48, ge=1, le=30 * 24)
    rems_form_reminder_day: int = Field(default=5, ge=1, le=30)
    rems_form_due_days: int = Field(default=7, ge=1, le=30)
    # A reading with SpO2 below this raises `spo2_low` for a clinician (clinic policy: the label gives no number).
    spo2_alert_below: int = Field(default=90, ge=50, le=100)


class ReferralRules(Strict):
    contact_business_days: int = Field(default=2, ge=0, le=30)
    min_prior_treatments: int = Field(default=2, ge=0, le=20)


class EscalationRules(Strict):
    """Acknowledgement deadlines and the ladder of PROTOCOL.md §6."""

    routine_ack_business_days: int = Field(default=1, ge=1, le=30)
    urgent_ack_minutes: int = Field(default=60, ge=1, le=24 * 60)
    emergency_ack_minutes: int = Field(default=15, ge=1, le=24 * 60)
    emergency_repeat_minutes: int = Field(default=15, ge=1, le=24 * 60)
    elevated_risk_days: int = Field(default=30, ge=1, le=365)


class MessagingRules(Strict):
    """When carepath texts patients (PROTOCOL.md §5–§6)."""

    reminder_hours_before: tuple[int, ...] = (72, 24, 2)
    day_before_reminder_hours: int = Field(default=24, ge=1, le=14 * 24)  # this one adds ride-home and fasting lines
    checkin_hour: int = Field(default=10, ge=0, le=23)  # local time on the day after a discharged session
    checkin_nudge_hours: int = Field(default=6, ge=1, le=48)
    checkin_missed_hours: int = Field(default=24, ge=1, le=96)
    elevated_risk_missed_hours: int = Field(default=6, ge=1, le=96)
    low_checkin_at_most: int = Field(default=3, ge=0, le=10)
    quiet_start_hour: int = Field(default=21, ge=0, le=23)
    quiet_end_hour: int = Field(default=8, ge=0, le=23)
    daily_cap: int = Field(default=3, ge=1, le=20)
    # The FCC's 2015 health-care exemption: at most 1 a day and 3 a week. A clinic may choose it.
    strict_fcc: bool = False
    strict_daily_cap: int = Field(default=1, ge=1, le=20)
    strict_weekly_cap: int = Field(default=3, ge=1, le=50)

    @model_validator(mode="after")
    def _sane(self) -> MessagingRules:
        if self.quiet_start_hour == self.quiet_end_hour:
            raise ValueError("quiet_start_hour and quiet_end_hour must differ")
        if self.day_before_reminder_hours not in self.reminder_hours_before:
            raise ValueError("day_before_reminder_hours must be one of reminder_hours_before")
        if any(hours <= 0 for hours in self.reminder_hours_before):
            raise ValueError("reminder_hours_before must be positive hours")
        return self


class ClinicHours(Strict):
    # Monday=0, as datetime.weekday(); at least one day a week.
    business_days: tuple[Annotated[int, Field(ge=0, le=6)], ...] = Field(default=(0, 1, 2, 3, 4), min_length=1)
    day_ends_at_hour: int = Field(default=17, ge=1, le=24)


class Protocol(Strict):
    """One version of the clinic's protocol; a workflow keeps the version it started on."""

    version: str = Field(min_length=1)
    referral: ReferralRules = ReferralRules()
    routes: dict[Route, RouteRules]
    sessions: SessionRules = SessionRules()
    instruments: InstrumentRules = InstrumentRules()
    escalations: EscalationRules = EscalationRules()
    messaging: MessagingRules = MessagingRules()
    clinic_hours: ClinicHours = ClinicHours()

    @model_validator(mode="after")
    def _every_route_has_rules(self) -> Protocol:
        missing = [route.value for route in Route if route not in self.routes]
        if missing:
            raise ValueError(f"routes is missing {missing}")
        return self

    def route(self, route: Route) -> RouteRules:
        return self.routes[route]


class ProtocolError(ValueError):
    """A protocol file (or an override) is invalid, or a version is not installed; the message names the key."""


class ProtocolBook:
    """Every protocol version this deployment knows; workflows keep running the version they started on."""

    def __init__(self, current: Protocol, others: list[Protocol] = ()) -> None:
        self.current = current
        self._by_version = {protocol.version: protocol for protocol in [*others, current]}

    @property
    def versions(self) -> list[str]:
        return sorted(self._by_version)

    def get(self, version: str) -> Protocol:
        try:
            return self._by_version[version]
        except KeyError:
            known = ", ".join(sorted(self._by_version))
            raise ProtocolError(f"protocol version {version!r} is not installed (installed: {known})") from None
