"""A GoCD stage-status or agent-status event's row keeps no document: herald
derives it from the raw body when it reads the row (store/event_doc.h). The
API answers as it did when the row kept it: the same event from one read and
from a list, before and after a restart, and (with HERALD_BIN_BEFORE set to a
herald built before the change) the same as that herald answers for the same
bodies, ids and received_at aside."""
import json
import os
import sqlite3

import pytest

import conftest
from conftest import FIXTURES, PAYLOADS, STORE, fill_fixture


def bodies():
    """(name, body, version, kind) of every GoCD body the tests have."""
    out = []
    for folder in (PAYLOADS, FIXTURES):
        for p in sorted(folder.glob("*")):
            kind = ("stage-status" if "stage-status" in p.name
                    else "agent-status" if "agent-status" in p.name else None)
            if kind is None or "_v" not in p.name:
                continue
            if folder == FIXTURES:
                text, version = fill_fixture(p.name)
            else:
                text = p.read_text()
                version = p.name.split("_v", 1)[1][0] + ".0"
            out.append((p.name, text, version, kind))
    # One with warnings: an enum value GoCD's docs do not name.
    out.append(("warned", json.dumps({"pipeline": {"name": "p", "counter": 7, "stage": {
        "name": "s", "state": "Skipped", "result": "Passed"}}}), "4.0", "stage-status"))
    return out


def post_all(h):
    """Posts every body; returns the events' API answers, oldest first."""
    sent = bodies()
    for name, text, version, kind in sent:
        status, answer = h.gocd(kind, text, version=version)
        assert status == 200 and answer == {"status": "success"}, (name, answer)
    listed = list(reversed(h.all_events()))
    assert len(listed) == len(sent)
    got = []
    for ev in listed:
        status, one = h.get_json(f"/api/v1/events/{ev['id']}")
        assert status == 200
        # One read and a page of the list derive the document alike.
        assert one["event"] == ev
        got.append(one["event"])
    return got


def test_gocd_events_read_back_the_same(herald_factory):
    h = herald_factory()
    got = post_all(h)
    if STORE == "sqlite":
        db = sqlite3.connect(f"file:{h.data_dir}/herald.db?mode=ro", uri=True)
        nulls, = db.execute("SELECT count(*) FROM events WHERE doc IS NULL").fetchone()
        db.close()
        assert nulls == len(got)
    assert any(ev.get("warnings") for ev in got)
    h.stop()
    h.start()
    for ev in got:
        status, one = h.get_json(f"/api/v1/events/{ev['id']}")
        assert status == 200 and one["event"] == ev


def _normalised(events):
    return [dict(ev, id=None, received_at=None) for ev in events]


@pytest.mark.skipif(not os.environ.get("HERALD_BIN_BEFORE"),
                    reason="HERALD_BIN_BEFORE (a herald built before the change) is not set")
def test_answers_equal_a_herald_that_kept_documents(herald_factory, monkeypatch):
    now = post_all(herald_factory())
    monkeypatch.setattr(conftest, "BIN", os.environ["HERALD_BIN_BEFORE"])
    before = post_all(herald_factory())
    assert _normalised(now) == _normalised(before)
