"""Who the clinic is: its name, phone, home time zone, the staff numbers escalations text, and its SMS wording."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from workflows.catalog import Catalog, LanguageTag
from workflows.closures import check_country, public_holiday
from workflows.events import ClinicKey, Phone, TimeZone
from workflows.protocol import ClinicHours
from workflows.rota import Rota

DEFAULT_CLINIC = "main"  # the one clinic of a single-clinic install, and where an existing database's records go
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class StaffNumbers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    on_call: Phone | None = None
    medical_director: Phone | None = None
    clinic_manager: Phone | None = None


class Clinic(BaseModel):
    """Built by `config.clinic.build_clinic`, which loads the message catalog from configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    catalog: Catalog
    key: ClinicKey = DEFAULT_CLINIC
    # Every language's catalog by IETF tag, the default's included (filled in from `catalog` when left empty).
    catalogs: dict[LanguageTag, Catalog] = {}
    default_language: LanguageTag = "en"
    name: str = Field(default="carepath demo clinic", min_length=1, max_length=40)
    phone: Phone = "+15555550100"  # the number its texts leave from and patients call
    numbers: tuple[Phone, ...] = ()  # more numbers patients text it on (texts to any of them belong to this clinic)
    # Where its texts leave from: its own Twilio number or messaging service ("MG…"); None: the install's configured one.
    sends_from: str | None = Field(default=None, pattern=r"^(\+[1-9][0-9]{6,14}|MG[0-9a-f]{32})$")
    timezone: TimeZone = "America/New_York"
    staff: StaffNumbers = StaffNumbers()  # one number per role, at every hour
    rota: Rota = Rota()  # who holds a role when; where it names a role, it replaces that role's single number
    # Closed days besides the protocol's weekend: the country's public holidays and the clinic's own closures.
    holidays_country: str = "US"
    holidays_subdivision: str | None = None  # a state or province with holidays of its own, e.g. "MA"
    closures: tuple[date, ...] = ()
    # Its opening days and the hour its day ends (same-day deadlines, business days); None: the protocol's.
    hours: ClinicHours | None = None
    # The protocol version its new patients start on (one installed); None: the deployment's current one.
    protocol_version: str | None = Field(default=None, min_length=1, max_length=64)
    # Its treatment chairs or rooms, and its prescribing providers, by name (staff and places only, never patients).
    chairs: tuple[Label, ...] = ()
    providers: tuple[Label, ...] = ()
    # How long an evaluation and a therapy appointment hold their room and provider on the schedule (a dosing
    # session's length is its route's, from the protocol: `workflows.schedule.length_minutes`).
    evaluation_minutes: int = Field(default=60, ge=10, le=480)
    therapy_minutes: int = Field(default=50, ge=10, le=480)
    # Staff alerts link to one item: this address, "/" and the item's id (`item_link`). 41 characters here, plus 37 for
    # the id, is the 78 a staff alert's worst case (`workflows.catalog.WORST_CASE`) leaves in one SMS;
    # `workers.settings` refuses a CAREPATH_PUBLIC_URL that makes it longer.
    worklist_url: str = Field(default="http://127.0.0.1:8000/worklist", max_length=41)

    @property
    def sms_numbers(self) -> tuple[str, ...]:
        """Every number that is this clinic's: its phone first, then the others."""
        return (self.phone, *(n for n in self.numbers if n != self.phone))

    def item_link(self, escalation_id: str) -> str:
        """The address a staff alert carries: the worklist with this item marked. Ids only, never patient data."""
        return f"{self.worklist_url}/{escalation_id}"

    def staff_number(self, role: str, moment: datetime) -> str | None:
        """Whom a page for `role` (`on_call`, `medical_director`, `clinic_manager`) reaches at `moment`."""
        if any(line.role == role for line in self.rota.lines):
            return self.rota.holder(role, moment, self.timezone)
        return getattr(self.staff, role, None)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.catalogs))

    def language_for(self, tag: str) -> str | None:
        """The catalog a patient's language uses: the tag itself, else its primary language (`es-MX` reads `es`)."""
        for candidate in (tag, tag.split("-")[0]):
            if candidate in self.catalogs:
                return candidate
        return None

    def catalog_for(self, language: str | None) -> Catalog:
        """The wording for a patient's language; the default language's when it has none (checked at referral)."""
        chosen = self.language_for(language) if language else None
        return self.catalogs[chosen] if chosen else self.catalog

    def mentions_crisis(self, text: str) -> bool:
        # Every language's crisis terms, whoever writes: a Spanish crisis text from an "en" patient is still a crisis.
        return any(catalog.mentions_crisis(text) for catalog in self.catalogs.values())

    def keyword(self, word: str) -> tuple[str, str] | None:
        """(kind, language) when `word` is a language's own STOP, START or HELP keyword (ALTO, AYUDA)."""
        return next(filter(None, (catalog.keyword(word) for catalog in self.catalogs.values())), None)

    def banned_in(self, text: str) -> list[str]:
        """Forbidden words of every language found in the text."""
        return sorted({word for catalog in self.catalogs.values() for word in catalog.banned_in(text)})

    @model_validator(mode="before")
    @classmethod
    def _default_catalog_is_a_language(cls, data):
        # Built with one catalog (tests, an override): that catalog is the default language's only one.
        if isinstance(data, dict) and not data.get("catalogs") and data.get("catalog") is not None:
            data = {**data, "catalogs": {data.get("default_language", "en"): data["catalog"]}}
        return data

    def is_closed(self, day: date) -> bool:
        """Whether the clinic is shut on this local date whatever the weekday: a public holiday or a closure."""
        return day in self.closures or public_holiday(day, self.holidays_country, self.holidays_subdivision) is not None

    def hours_under(self, protocol_hours: ClinicHours) -> ClinicHours:
        """Its own opening days and closing hour, or the protocol's where it has none."""
        return self.hours or protocol_hours

    def is_open_day(self, day: date, business_days: tuple[int, ...] = (0, 1, 2, 3, 4)) -> bool:
        """Whether this local date counts as a business day: one of the protocol's weekdays, and not closed."""
        return day.weekday() in business_days and not self.is_closed(day)

    @model_validator(mode="after")
    def _holidays_known(self) -> Clinic:
        check_country(self.holidays_country, self.holidays_subdivision)
        return self

    @model_validator(mode="after")
    def _names_once(self) -> Clinic:
        for field in ("chairs", "providers"):
            names = [name.casefold() for name in getattr(self, field)]
            if twice := sorted({name for name in names if names.count(name) > 1}):
                raise ValueError(f"{field}: {', '.join(twice)} is listed twice; give each its own name")
        return self

    @model_validator(mode="after")
    def _name_is_safe_on_a_lock_screen(self) -> Clinic:
        # The clinic's name is in every SMS: "Ketamine Wellness" would tell a lock screen what the patient takes.
        banned = self.banned_in(self.name)
        if banned:
            raise ValueError(f"name: the clinic's name goes in every SMS and must not contain {banned}")
        if self.default_language not in self.catalogs:
            raise ValueError(f"default_language: no catalog for {self.default_language!r} (have {list(self.catalogs)})")
        return self
