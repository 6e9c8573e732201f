"""Scenario files for `carepath simulate`: YAML in, validated pydantic models out.

Every problem becomes a ScenarioError that names the file, the line and the field, because the people who write
scenarios fix them by reading the message, not a traceback. The format is in EVENTS.md, "Scenario files".
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from cli.expect.crosscheck import check_expectations
from cli.expect.grammar import Expectation
from cli.scenario_fields import NonEmpty, Phone, Time, TzName, allowed_fields, drop_nulls, sms_body
from workflows.closures import check_country
from workflows.rota import RotaLine


class ScenarioError(ValueError):
    """A scenario that cannot be run; str() is "<file name>:<line>: <message>" when the line is known."""

    def __init__(self, message: str, path: str = "<scenario>", line: int | None = None):
        self.message, self.path, self.line = message, path, line
        where = f"{Path(path).name}:{line}" if line is not None else Path(path).name
        super().__init__(f"{where}: {message}")


# --- models ------------------------------------------------------------------------------------------------------

class ClinicSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: NonEmpty = "carepath demo clinic"
    phone: Phone = "+15555550100"
    timezone: TzName = "America/New_York"
    # Closed days besides the weekend: these dates and the public holidays of `holidays_country` (checked by Clinic).
    closures: list[date] = []
    holidays_country: NonEmpty = "US"
    holidays_subdivision: NonEmpty | None = None
    # The schedule grid (`workflows.schedule`): the chairs or rooms and providers bookings name, appointment lengths.
    chairs: list[NonEmpty] = []
    providers: list[NonEmpty] = []
    evaluation_minutes: int | None = None
    therapy_minutes: int | None = None

    @model_validator(mode="after")
    def _holidays_known(self) -> ClinicSpec:
        check_country(self.holidays_country, self.holidays_subdivision)
        return self


class StaffSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt role would silently mean "nobody is paged"
    on_call: Phone | None = None
    medical_director: Phone | None = None
    clinic_manager: Phone | None = None
    # Who holds a role when, in clinic time (the lines of a network scenario's `rota:`); replaces that role's number.
    rota: list[RotaLine] = []


class NetworkClinicSpec(BaseModel):
    """One clinic of a network scenario (EVENTS.md, "A network of clinics")."""

    model_config = ConfigDict(extra="forbid")
    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]  # lower case, digits and dashes: it names the clinic
    name: NonEmpty
    numbers: Annotated[list[Phone], Field(min_length=1)]  # inbound texts to these are this clinic's; replies leave from the first
    timezone: TzName = "America/New_York"
    closures: list[date] = []
    holidays_country: str | None = None
    rota: list[RotaLine] = []
    chairs: list[NonEmpty] = []
    providers: list[NonEmpty] = []
    evaluation_minutes: int | None = None
    therapy_minutes: int | None = None


class PatientSpec(BaseModel):
    model_config = ConfigDict(extra="allow")  # extra fields flow into referral.received; the engine judges them
    key: NonEmpty
    clinic: str | None = None  # a network scenario's clinic key; the first clinic when omitted
    name: str | None = None
    phone: Phone | None = None
    timezone: TzName | None = None
    date_of_birth: date | None = None
    sms_consent: bool | None = None
    language: str | None = None  # an IETF tag (`es`); the clinic must have a catalog for it (the engine checks)


class TimelineLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line: int = Field(exclude=True)  # set by the loader: the file's line, for messages
    at: Time
    patient: NonEmpty
    event: NonEmpty | None = None
    data: dict = {}
    actor: dict | None = None
    idempotency_key: str | None = None
    sms: Annotated[str | None, BeforeValidator(sms_body)] = None

    @model_validator(mode="before")
    @classmethod
    def _empty_data(cls, data: Any) -> Any:
        return drop_nulls(data, "data")

    @model_validator(mode="after")
    def _event_or_sms(self) -> TimelineLine:
        if (self.event is None) == (self.sms is None):
            raise ValueError("a timeline line needs exactly one of `event` or `sms`")
        if self.sms is not None and self.model_fields_set & {"data", "actor", "idempotency_key"}:
            raise ValueError("an `sms` line takes no data, actor or idempotency_key")
        if self.actor is not None and not (isinstance(self.actor.get("role"), str) and self.actor["role"]):
            raise ValueError("actor needs a `role`, e.g. {role: coordinator, name: Sam}")
        if self.actor is not None and "user_id" in self.actor:
            raise ValueError("actor takes a `role` and a `name`: a scenario's staff are simulated, and a `user_id` is"
                             " only ever the signed-in user's")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo such as `timline:` must not silently run an empty scenario
    name: NonEmpty
    clinic: ClinicSpec = Field(default_factory=ClinicSpec)
    clinics: list[NetworkClinicSpec] | None = None  # a network: several clinics, instead of `clinic:` + `staff:`
    start: Time
    until: Time
    protocol: dict = {}
    staff: StaffSpec = Field(default_factory=StaffSpec)
    patients: list[PatientSpec]
    timeline: list[TimelineLine]
    expect: list[Expectation] = []  # what must have happened (`carepath protocol test`); ignored by `simulate`

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        return drop_nulls(data, "clinic", "clinics", "staff", "protocol", "expect")

    @model_validator(mode="after")
    def _one_clinic_or_a_network(self) -> Scenario:
        if self.clinics is not None and self.model_fields_set & {"clinic", "staff"}:
            raise ValueError("give either `clinic:` and `staff:` (one clinic) or `clinics:` (a network), not both")
        if self.clinics is not None:
            keys = [clinic.key for clinic in self.clinics]
            if not keys or len(set(keys)) != len(keys):
                raise ValueError("clinics: give at least one clinic, each with its own key")
            for patient in self.patients:
                if patient.clinic is not None and patient.clinic not in keys:
                    raise ValueError(f"patient {patient.key}: unknown clinic {patient.clinic!r} "
                                     f"(clinics: {', '.join(keys)})")
        elif any(patient.clinic is not None for patient in self.patients):
            raise ValueError("a patient's `clinic` names one of `clinics:`; this scenario has one clinic")
        return self

    @model_validator(mode="after")
    def _localise(self) -> Scenario:
        # Times without an offset are clinic-local (EVENTS.md): the first clinic's for start and until, the patient's
        # own clinic's for a line. Pinned now so every later comparison is aware.
        def pin(t: datetime, zone: str) -> datetime:
            return t if t.tzinfo is not None else t.replace(tzinfo=ZoneInfo(zone))

        self.start, self.until = pin(self.start, self.zone_of(None)), pin(self.until, self.zone_of(None))
        for item in self.timeline:
            item.at = pin(item.at, self.zone_of(item.patient))
        for expectation in self.expect:
            expectation.localise(lambda t, patient: pin(t, self.zone_of(patient)))
        return self

    def clinic_key_of(self, patient: str | None) -> str | None:
        """The network clinic a patient belongs to (the first when the patient names none); None with one clinic."""
        if self.clinics is None:
            return None
        spec = next((p for p in self.patients if p.key == patient), None)
        return (spec.clinic if spec is not None and spec.clinic else None) or self.clinics[0].key

    def zone_of(self, patient: str | None) -> str:
        key = self.clinic_key_of(patient)
        if key is None:
            return self.clinic.timezone
        return next(clinic.timezone for clinic in self.clinics or () if clinic.key == key)

    def number_of(self, patient: str | None) -> str:
        """The clinic number a patient's texts go to."""
        key = self.clinic_key_of(patient)
        if key is None:
            return self.clinic.phone
        return next(clinic.numbers[0] for clinic in self.clinics or () if clinic.key == key)


# --- YAML with line numbers --------------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    def construct_object(self, node, deep=False):
        # PyYAML lets plain ValueErrors escape (2026-13-45 as a timestamp, a 5000-digit int); give them a line.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"unreadable value ({exc})", node.start_mark) from exc


def _read_yaml(text: str, path: str) -> tuple[Any, yaml.Node | None]:
    """Compose once (for line numbers) and construct from the same node tree (for the data)."""
    loader = None
    try:
        loader = _Loader(text)  # the reader already rejects NUL and other unprintable characters here
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ": ".join(p for p in (exc.context, exc.problem) if p)
        raise ScenarioError(f"invalid YAML: {problem}", path, mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise ScenarioError(f"invalid YAML: character #x{code:04x} is not allowed", path, line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", path) from None
    except RecursionError:
        raise ScenarioError("invalid YAML: nested too deeply", path) from None
    finally:
        if loader is not None:
            loader.dispose()


def _line_of(root: yaml.Node, loc: tuple) -> int:
    """1-based line of the node at `loc`, or of the deepest ancestor that exists (e.g. for a missing field)."""
    node, line = root, root.start_mark.line
    for step in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line
        elif isinstance(node, yaml.MappingNode):
            # Search backwards: with a duplicated key, the last one is what the data holds.
            pair = next((kv for kv in reversed(node.value) if getattr(kv[0], "value", None) == str(step)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line, pair[1]  # the key's line reads best for block values
        else:
            break
    return line + 1


def _field(loc: tuple) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in loc).lstrip(".")


# pydantic's wording speaks of "inputs" and "dictionaries"; scenario authors think in YAML terms.
_PLAIN = {"missing": "required field is missing", "extra_forbidden": "unknown field", "dict_type": "must be a mapping",
          "model_type": "must be a mapping", "list_type": "must be a list", "string_type": "must be a string",
          "bool_type": "must be true or false", "bool_parsing": "must be true or false",
          "invalid_key": "mapping keys must be strings"}


def _fail(message: str, loc: tuple, root: yaml.Node, path: str) -> ScenarioError:
    return ScenarioError(f"{_field(loc)}: {message}" if loc else message, path, _line_of(root, loc))


# --- checks across fields ----------------------------------------------------------------------------------------

def _cross_checks(sc: Scenario, root: yaml.Node, path: str) -> None:
    if sc.until <= sc.start:
        raise _fail(f"must be after start ({sc.start.isoformat()})", ("until",), root, path)
    seen: dict[str, int] = {}
    for i, patient in enumerate(sc.patients):
        if patient.key in seen:
            first = _line_of(root, ("patients", seen[patient.key]))
            raise _fail(f"duplicate patient key {patient.key!r} (first on line {first})", ("patients", i, "key"),
                        root, path)
        seen[patient.key] = i
    for i, item in enumerate(sc.timeline):
        if item.patient not in seen:
            known = ", ".join(seen) or "none declared"
            raise _fail(f"unknown patient {item.patient!r} (patients: {known})", ("timeline", i, "patient"), root, path)
        if not sc.start <= item.at <= sc.until:
            window = f"{sc.start.isoformat()} to {sc.until.isoformat()}"
            raise _fail(f"{item.at.isoformat()} is outside the scenario ({window})", ("timeline", i, "at"), root, path)
    check_expectations(sc, lambda message, loc: _fail(message, loc, root, path))


def _with_lines(items: list, section: str, key: str, root: yaml.Node, path: str) -> list:
    """Copies of a section's entries that remember their line, so a rejected line or failed expectation is findable."""
    lines = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            if key in item:
                raise _fail("unknown field (line numbers come from the file)", (section, i, key), root, path)
            item = {**item, key: _line_of(root, (section, i))}  # copy: YAML aliases may share the dict
        lines.append(item)
    return lines


# --- public API --------------------------------------------------------------------------------------------------

def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    data, root = _read_yaml(text, path)
    if root is None:
        raise ScenarioError("the scenario is empty", path)
    if not isinstance(data, dict):
        raise ScenarioError("the top level must be a mapping (name:, start:, until:, ...)", path, _line_of(root, ()))
    for section, key in (("timeline", "line"), ("expect", "yaml_line")):
        if isinstance(data.get(section), list):
            data = {**data, section: _with_lines(data[section], section, key, root, path)}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        # Report the error that comes first in the file: that is the order people fix things in.
        errors = [(_line_of(root, e["loc"]), e) for e in exc.errors(include_url=False)]
        _, first = min(errors, key=lambda pair: pair[0])
        message = _PLAIN.get(first["type"]) or first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden" and (allowed := allowed_fields(Scenario, first["loc"][:-1])):
            message += f" (allowed: {', '.join(allowed)})"
        raise _fail(message, first["loc"], root, path) from None
    _cross_checks(scenario, root, path)
    scenario.timeline.sort(key=lambda item: item.at)  # list.sort is stable: equal times keep file order
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text (byte {exc.start})", str(path)) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ScenarioError(f"cannot read file: {getattr(exc, 'strerror', None) or exc}", str(path)) from None
    return parse_scenario(text, str(path))
