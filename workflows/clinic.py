"""Who the clinic is: its name, phone, home time zone and the staff numbers that escalations text."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from workflows.events import Phone, TimeZone


class StaffNumbers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    on_call: Phone | None = None
    medical_director: Phone | None = None
    clinic_manager: Phone | None = None


class Clinic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(default="carepath demo clinic", min_length=1, max_length=60)
    phone: Phone = "+15555550100"
    timezone: TimeZone = "America/New_York"
    staff: StaffNumbers = StaffNumbers()
    worklist_url: str = Field(default="http://127.0.0.1:8000/worklist", max_length=40)
