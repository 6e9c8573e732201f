"""A network of clinics: each clinic by its key, and the clinic a number belongs to.

One install serves one or many clinics. A patient's workflow belongs to one clinic (`WorkflowState.clinic`), whose
time zone, wording, staff rota and numbers it uses; an inbound text belongs to the clinic of the number it was sent
to. A number can belong to one clinic only, or a reply could land in the wrong clinic's records.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.clinic import Clinic
from workflows.errors import Rejected


class Network(BaseModel):
    model_config = ConfigDict(frozen=True)
    clinics: tuple[Clinic, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _keys_and_numbers_are_unique(self) -> Network:
        keys = [clinic.key for clinic in self.clinics]
        if len(set(keys)) != len(keys):
            twice = sorted({key for key in keys if keys.count(key) > 1})
            raise ValueError(f"clinic key {', '.join(twice)} is used twice: give every clinic its own key")
        owner: dict[str, str] = {}
        for clinic in self.clinics:
            for number in clinic.sms_numbers:
                if number in owner and owner[number] != clinic.key:
                    raise ValueError(f"number {number} is used by clinics {owner[number]} and {clinic.key}: "
                                     "a number belongs to one clinic, so give each its own")
                owner[number] = clinic.key
        return self

    @property
    def default(self) -> Clinic:
        """The first clinic: a single-clinic install's only one, and where a referral naming none goes."""
        return self.clinics[0]

    @property
    def keys(self) -> list[str]:
        return [clinic.key for clinic in self.clinics]

    def get(self, key: str | None) -> Clinic:
        """The clinic with this key (the default for None); an unknown key is refused, naming the known ones."""
        if key is None:
            return self.default
        for clinic in self.clinics:
            if clinic.key == key:
                return clinic
        raise Rejected(f"unknown clinic {key!r}; this carepath serves {', '.join(self.keys)}",
                       code="invalid_data", rule="clinic_exists", allowed=self.keys, field="clinic")

    def find(self, key: str | None) -> Clinic | None:
        return next((clinic for clinic in self.clinics if clinic.key == key), None) if key else None

    def owning(self, number: str | None) -> Clinic | None:
        """The clinic a number (a texted-to number) belongs to, or None when it is none of theirs."""
        return next((clinic for clinic in self.clinics if number in clinic.sms_numbers), None) if number else None
