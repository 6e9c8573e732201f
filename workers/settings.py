"""Settings from the environment (pydantic-settings). Nothing is connected here: the composition root (`config.wiring`) does."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    protocol_file: Path | None = None
    messages_file: Path | None = None

    # Twilio's own variable names, as its documentation and consoles use them.
    twilio_account_sid: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN"))
    twilio_from_number: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_FROM_NUMBER"))
    twilio_messaging_service_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_MESSAGING_SERVICE_SID"))
    twilio_api_base_url: str = Field(default="https://api.twilio.com",
                                     validation_alias=AliasChoices("TWILIO_API_BASE_URL"))

    # Scheduler and sweeper timing.
    scheduler_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # A row handed to Celery but not taken within this long is handed again (its task was lost with Redis).
    handoff_grace_seconds: int = Field(default=60, ge=1)
    # A send still without an outcome or a status callback after this long is looked up at the provider: marked sent
    # if it has the message, resent only if it does not (workers/reconcile.py).
    send_grace_seconds: int = Field(default=300, ge=1)

    # Operations: where the dashboard links to Flower (empty: no link), and how processes log.
    flower_url: str | None = "http://127.0.0.1:5555"
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @model_validator(mode="after")
    def _complete_for_its_backend(self) -> Settings:
        if self.sms_backend == "twilio":
            missing = [name for name in ("twilio_account_sid", "twilio_auth_token") if not getattr(self, name)]
            if missing:
                raise ValueError(f"CAREPATH_SMS_BACKEND=twilio needs {', '.join(n.upper() for n in missing)}")
            if bool(self.twilio_from_number) == bool(self.twilio_messaging_service_sid):
                raise ValueError("set exactly one of TWILIO_FROM_NUMBER and TWILIO_MESSAGING_SERVICE_SID")
        if self.environment == "production":
            if self.sms_backend != "twilio":
                raise ValueError("production sends real SMS: set CAREPATH_SMS_BACKEND=twilio")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production runs on PostgreSQL: set CAREPATH_DATABASE_URL")
            if self.public_url.startswith("http://127.0.0.1"):
                raise ValueError("production needs CAREPATH_PUBLIC_URL, the address Twilio calls back")
        return self
