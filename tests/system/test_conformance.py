"""Conformance: every payload of GoCD's own tests (shared/fixtures/gocd) and
every payload of ours (tests/payloads/gocd) goes through the real daemon over
HTTP; the stored event is checked field by field, and the raw body byte for
byte."""
import json

import pytest

from conftest import FIXTURES, PAYLOADS, fill_fixture
from normalise import expected

fixture_names = sorted(p.name for p in FIXTURES.glob("*")
                       if p.name.startswith(("stage-status", "agent-status",
                                             "docs_stage-status", "docs_agent-status")))
payload_names = sorted(p.name for p in PAYLOADS.glob("*.json"))


def kind_of(name):
    return "agent-status" if "agent-status" in name else "stage-status"


def check_roundtrip(herald, kind, text, version):
    status, answer = herald.gocd(kind, text.encode(), version=version)
    assert (status, answer) == (200, {"status": "success"}), answer
    ev = herald.events(limit=1)[0]
    want = expected(kind, json.loads(text), version)
    for key, value in want.items():
        assert ev[key] == value, f"{key}: stored {ev[key]!r}, expected {value!r}"
    assert isinstance(ev["id"], int) and ev["received_at"].endswith("Z")
    status, one = herald.get_json(f"/api/v1/events/{ev['id']}")
    assert status == 200
    assert one["raw"] == text, "the raw body must be stored exactly"
    assert one["event"] == ev
    return ev


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/fixtures/gocd is not beside the repo")
@pytest.mark.parametrize("name", fixture_names)
def test_gocd_fixture(herald, name):
    text, version = fill_fixture(name)
    check_roundtrip(herald, kind_of(name), text, version)


@pytest.mark.valgrind
@pytest.mark.parametrize("name", payload_names)
def test_own_payload(herald, name):
    text = (PAYLOADS / name).read_text()
    version = name.split("_v")[1][0] + ".0"
    check_roundtrip(herald, kind_of(name), text, version)


def test_fixture_list_is_complete():
    """Our own payloads cover every version, material type and event shape."""
    names = " ".join(payload_names)
    for v in "1234":
        assert f"stage-status_v{v}_" in names
    for v in "34":
        assert f"agent-status_v{v}_" in names
    types = set()
    for n in payload_names:
        body = json.loads((PAYLOADS / n).read_text())
        for c in body.get("pipeline", {}).get("build-cause") or []:
            types.add(c["material"]["type"])
    assert types >= {"git", "mercurial", "svn", "tfs", "perforce", "pipeline", "package", "scm"}
