"""The protocol file: shipped defaults match PROTOCOL.md, and a bad file is refused with the key named."""

import pytest
import yaml

from config.protocol import DEFAULT_PROTOCOL_FILE, ProtocolBook, ProtocolError, load_protocol
from workflows.protocol import Route


def test_shipped_protocol_carries_the_numbers_of_protocol_md():
    protocol = load_protocol()
    esketamine = protocol.route(Route.ESKETAMINE)
    assert esketamine.allowed_doses_mg == (28, 56, 84)
    assert (esketamine.first_dose_mg, esketamine.first_dose_mg_older, esketamine.older_age) == (56, 28, 65)
    assert esketamine.min_monitoring_minutes == 120 and esketamine.post_dose_window_minutes == (35, 50)
    iv = protocol.route(Route.IV_KETAMINE)
    assert (iv.dose_mg_per_kg_min, iv.dose_mg_per_kg_max, iv.induction_sessions) == (0.1, 0.75, 6)
    assert protocol.sessions.pre_dose_hold.systolic == 140 and protocol.sessions.critical_bp.diastolic == 120
    assert protocol.sessions.no_show_after_minutes == 30


@pytest.mark.parametrize("overrides, named", [
    ({"sessions": {"no_show_after_minuts": 30}}, "sessions.no_show_after_minuts: unknown key"),
    ({"sessions": {"bp_recheck_minutes": 0}}, "sessions.bp_recheck_minutes"),
    ({"routes": {"esketamine": {"first_dose_mg": 30}}}, "routes.esketamine: first_dose_mg must be one of"),
    ({"routes": {"im_ketamine": {"dose_mg_per_kg_min": 0.9}}}, "dose_mg_per_kg_min must not exceed"),
    ({"instruments": {"pcl5_probable_threshold": 40}}, "instruments.pcl5_probable_threshold"),
    ({"version": ""}, "version"),
])
def test_a_bad_value_is_refused_naming_the_key(overrides, named):
    with pytest.raises(ProtocolError) as refused:
        load_protocol(overrides=overrides)
    assert named in str(refused.value)


def test_a_route_missing_from_the_file_is_named(tmp_path):
    raw = yaml.safe_load(DEFAULT_PROTOCOL_FILE.read_text())
    del raw["routes"]["im_ketamine"]
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProtocolError, match="im_ketamine"):
        load_protocol(path)


def test_overrides_merge_deeply_and_keep_the_rest():
    protocol = load_protocol(overrides={"sessions": {"no_show_after_minutes": 20}})
    assert protocol.sessions.no_show_after_minutes == 20
    assert protocol.sessions.bp_recheck_minutes == 30


def test_book_finds_older_versions_and_names_unknown_ones():
    old = load_protocol(overrides={"version": "2025.01"})
    book = ProtocolBook(load_protocol(), [old])
    assert book.get("2025.01") is old and book.current.version == "2026.11"
    with pytest.raises(ProtocolError, match="'1999' is not installed"):
        book.get("1999")
