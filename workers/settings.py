"""Settings from the environment (pydantic-settings). Nothing is connected here: the composition root (`config.wiring`) does."""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from workflows.catalog import SINGLE_SEGMENT, segments
from workflows.clinic import Clinic
from workflows.closures import check_country
from workflows.escalations import REASONS, STAFF_ALERT, UNKNOWN_NUMBER_ALERT

# Staff alerts link to `{public url}/worklist/{item id}` (`Clinic.item_link`; `api.dashboard.signin` sends it on to
# the console's worklist with that item marked). The texts are `workflows.escalations`' own.
WORKLIST_LINK_PATH = "/worklist"
SAMPLE_ITEM_ID = "00000000-0000-4000-8000-000000000000"  # every item id is a UUID: 36 characters


class Settings(BaseSettings):
    """Every knob carepath reads, with the embedded defaults: SQLite, in-process tasks, console SMS."""

    model_config = SettingsConfigDict(env_prefix="CAREPATH_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///carepath.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    public_url: str = "http://127.0.0.1:8000"
    # inline: tasks run in the calling process (the embedded default); celery: handed to workers through Redis.
    tasks: Literal["inline", "celery"] = "inline"
    sms_backend: Literal["console", "twilio"] = "console"

    clinic_name: str = "carepath demo clinic"
    clinic_phone: str = "+15555550100"
    clinic_timezone: str = "America/New_York"
    staff_on_call: str | None = None
    staff_medical_director: str | None = None
    staff_clinic_manager: str | None = None
    # Business days skip the country's public holidays (the `holidays` package) and these closures (ISO dates,
    # comma-separated): a business-day deadline over Thanksgiving or a closure moves to the next open day.
    clinic_holidays_country: str = "US"
    clinic_holidays_subdivision: str | None = None
    clinic_closures: Annotated[tuple[date, ...], NoDecode] = ()
    # The install's own clinic's chairs or rooms, providers and languages (comma-separated names; languages: tags of
    # shipped catalogs, empty: all), and the protocol version its new patients start on (empty: the current one).
    clinic_chairs: Annotated[tuple[str, ...], NoDecode] = ()
    clinic_providers: Annotated[tuple[str, ...], NoDecode] = ()
    clinic_languages: Annotated[tuple[str, ...], NoDecode] = ()
    clinic_protocol_version: str | None = None
    protocol_file: Path | None = None
    messages_file: Path | None = None  # the default language's catalog only; the others come from catalogs_dir
    catalogs_dir: Path | None = None  # one <language>.yaml each; default config/catalogs
    # Who is on call when (config/rota.example.yaml); where it names a role it replaces CAREPATH_STAFF_<ROLE>.
    rota_file: Path | None = None
    # Gaps in the rota starting within this many hours are shown on the dashboard and texted to the clinic manager.
    rota_gap_hours: int = Field(default=72, ge=1, le=24 * 28)
    # The overview, the network and a patient's dashboard page update their live panels this often (seconds).
    dashboard_refresh_seconds: int = Field(default=15, ge=2, le=600)

    # Twilio's own variable names, as its documentation and consoles use them.
    twilio_account_sid: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN"))
    twilio_from_number: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_FROM_NUMBER"))
    twilio_messaging_service_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_MESSAGING_SERVICE_SID"))
    twilio_api_base_url: str = Field(default="https://api.twilio.com",
                                     validation_alias=AliasChoices("TWILIO_API_BASE_URL"))

    # A process started while the database is down (a restart during an outage) waits this long for it before it
    # gives up; 0: fail at once (the CLI's one-shot commands do).
    startup_wait_seconds: float = Field(default=120.0, ge=0, le=3600)

    # A round trip before each use of a pooled connection, so that none fails after a database restart. `carepath
    # worker` and `carepath scheduler` turn it off (their work is retried and swept; the round trip is on every unit of
    # work); the API keeps it.
    database_pre_ping: bool = True

    # Scheduler and sweeper timing.
    scheduler_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # A row handed to Celery but not taken within this long is handed again (its task was lost with Redis).
    handoff_grace_seconds: int = Field(default=60, ge=1)
    # A send still without an outcome or a status callback after this long is looked up at the provider: marked sent
    # if it has the message, resent only if it does not (workers/reconcile.py).
    send_grace_seconds: int = Field(default=300, ge=1)

    # The demo's simulated patients (`workers/demo_phones.py`): a demo patient's phone answers a text that asks for a
    # reply after about `demo_reply_seconds`, through the inbound path, its answers drawn from `demo_reply_seed`. On by
    # default with `carepath standalone --demo` only; refused in production and with Twilio (real phones answer there).
    demo_replies: bool = False
    demo_reply_seconds: float = Field(default=5.0, ge=0, le=600)
    demo_reply_seed: int = 18

    # Operations: where the dashboard links to Flower (empty: no link), and how processes log.
    flower_url: str | None = "http://127.0.0.1:5555"
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Staff sign-in (docs/admin-guide.md). A session unused for `session_idle_seconds` ends, and every session ends
    # `session_max_seconds` after sign-in. Failed sign-ins within `signin_lock_minutes`: `signin_max_failures` for
    # one account, `signin_max_failures_per_address` from one address (a clinic behind one NAT shares it), and
    # signing in is paused for `signin_lock_minutes`.
    session_idle_seconds: int = Field(default=15 * 60, ge=1)
    session_max_seconds: int = Field(default=12 * 3600, ge=60)
    signin_max_failures: int = Field(default=5, ge=1)
    signin_max_failures_per_address: int = Field(default=20, ge=1)
    signin_lock_minutes: int = Field(default=15, ge=1)
    # Proxies (addresses or networks, comma-separated) whose X-Forwarded-Proto and X-Forwarded-For are believed:
    # requests they forward as https get Secure cookies, and the audit records the client behind them.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Optional OpenID Connect sign-in (an identity provider the clinic runs); accounts are matched by email.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_label: str = Field(default="your organisation's account", max_length=60)

    @field_validator("clinic_chairs", "clinic_providers", "clinic_languages", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return tuple(part.strip() for part in value.split(",") if part.strip())

    @field_validator("clinic_closures", mode="before")
    @classmethod
    def _closure_dates(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        days = []
        for part in (piece.strip() for piece in value.split(",")):
            if not part:
                continue
            try:
                days.append(date.fromisoformat(part))
            except ValueError:
                raise ValueError(f"CAREPATH_CLINIC_CLOSURES: {part!r} is not a date like 2026-12-24") from None
        return tuple(days)

    @model_validator(mode="after")
    def _holidays_country_known(self) -> Settings:
        check_country(self.clinic_holidays_country, self.clinic_holidays_subdivision,
                      names=("CAREPATH_CLINIC_HOLIDAYS_COUNTRY", "CAREPATH_CLINIC_HOLIDAYS_SUBDIVISION"))
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for entry in value or []:
            try:
                ipaddress.ip_network(str(entry), strict=False)
            except ValueError:
                raise ValueError(f"CAREPATH_TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
        return value

    @model_validator(mode="after")
    def _staff_alert_fits_one_sms(self) -> Settings:
        address = self.public_url.rstrip("/")
        link = f"{worklist_link(address)}/{SAMPLE_ITEM_ID}"
        longest = max((rule.label for rule in REASONS.values()), key=len)
        alerts = [STAFF_ALERT.format(ref="0123abcd", label=longest, link=link),
                  UNKNOWN_NUMBER_ALERT.format(label=REASONS["crisis_language"].label, link=link)]
        room = min(SINGLE_SEGMENT - (len(alert) - len(link)) for alert in alerts)  # what the longest leaves its link
        added = len(link) - len(address)  # "/worklist/" and the item's id
        budget = min(room, _clinic_link_limit() + 1 + len(SAMPLE_ITEM_ID)) - added
        if any(segments(alert) > 1 for alert in alerts) or len(address) > budget:
            raise ValueError(f"CAREPATH_PUBLIC_URL is too long: staff alerts link to one worklist item, like {link} "
                             f"({len(link)} characters), and must fit one SMS, so the address can be at most {budget} "
                             "characters. Use a shorter address for the clinic's carepath.")
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        given = [name for name in ("oidc_issuer", "oidc_client_id", "oidc_client_secret") if getattr(self, name)]
        if given and len(given) < 3:
            missing = sorted({"oidc_issuer", "oidc_client_id", "oidc_client_secret"} - set(given))
            raise ValueError(f"OpenID Connect sign-in needs {', '.join('CAREPATH_' + n.upper() for n in missing)} too")
        if self.oidc_issuer and self.environment == "production" and not self.oidc_issuer.startswith("https://"):
            raise ValueError("CAREPATH_OIDC_ISSUER must be an https:// address in production")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @model_validator(mode="after")
    def _complete_for_its_backend(self) -> Settings:
        if self.sms_backend == "twilio":
            missing = [name for name in ("twilio_account_sid", "twilio_auth_token") if not getattr(self, name)]
            if missing:
                raise ValueError(f"CAREPATH_SMS_BACKEND=twilio needs {', '.join(n.upper() for n in missing)}")
            if bool(self.twilio_from_number) == bool(self.twilio_messaging_service_sid):
                raise ValueError("set exactly one of TWILIO_FROM_NUMBER and TWILIO_MESSAGING_SERVICE_SID")
        if self.demo_replies and (self.environment == "production" or self.sms_backend != "console"):
            raise ValueError("CAREPATH_DEMO_REPLIES makes simulated patients answer the demo's texts: it works only with "
                             "the console SMS backend, outside production. Unset it (or set it to false).")
        if self.environment == "production":
            if self.sms_backend != "twilio":
                raise ValueError("production sends real SMS: set CAREPATH_SMS_BACKEND=twilio")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production runs on PostgreSQL: set CAREPATH_DATABASE_URL")
            if self.public_url.startswith("http://127.0.0.1"):
                raise ValueError("production needs CAREPATH_PUBLIC_URL, the address Twilio calls back")
        return self


def worklist_link(public_url: str) -> str:
    """The worklist's short address; staff alerts add "/" and the item's id (`workflows.clinic.Clinic.item_link`)."""
    return f"{public_url.rstrip('/')}{WORKLIST_LINK_PATH}"


def _clinic_link_limit() -> int:
    """The longest worklist link the clinic's definition accepts (`workflows.clinic.Clinic.worklist_url`)."""
    limits = [item.max_length for item in Clinic.model_fields["worklist_url"].metadata if hasattr(item, "max_length")]
    return min(limits, default=SINGLE_SEGMENT)
