"""The read API, per-stage state and /metrics, over the real daemon."""
import json

import pytest

from conftest import PAYLOADS


def stage_body(pipeline, counter, stage, state, result, version=4):
    body = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())
    p = body["pipeline"]
    p["name"], p["counter"] = pipeline, str(counter)
    p["stage"]["name"], p["stage"]["state"], p["stage"]["result"] = stage, state, result
    return body


def send(herald, body, kind="stage-status"):
    status, answer = herald.gocd(kind, body)
    assert (status, answer) == (200, {"status": "success"}), answer


@pytest.mark.valgrind
def test_transitions_per_stage(herald):
    seq = [("Building", "Unknown", "building"), ("Passed", "Passed", "passed"),
           ("Failed", "Failed", "broken"), ("Building", "Unknown", "building"),
           ("Failed", "Failed", "still_failing"), ("Cancelled", "Cancelled", "cancelled"),
           ("Passed", "Passed", "fixed")]
    for i, (state, result, _) in enumerate(seq):
        send(herald, stage_body("app", i + 1, "test", state, result))
    # another stage has its own history
    send(herald, stage_body("app", 9, "deploy", "Failed", "Failed"))
    got = [e["transition"] for e in reversed(herald.events(stage="test"))]
    assert got == [t for _, _, t in seq]
    assert herald.events(stage="deploy")[0]["transition"] == "failed"
    status, data = herald.get_json("/api/v1/stages")
    assert status == 200
    stages = {(s["pipeline"], s["stage"]): s for s in data["stages"]}
    assert stages[("app", "test")]["last_result"] == "Passed"
    assert stages[("app", "deploy")]["last_result"] == "Failed"


def test_filters_and_cursor(herald):
    for i in range(7):
        send(herald, stage_body("p%d" % (i % 2), i + 1, "s", "Passed" if i % 3 else "Failed",
                                "Passed" if i % 3 else "Failed"))
    send(herald, json.loads((PAYLOADS / "agent-status_v4_capitalised_lostcontact.json").read_text()),
         "agent-status")
    assert len(herald.events()) == 8
    assert [e["kind"] for e in herald.events(kind="agent-status")] == ["agent-status"]
    assert all(e["pipeline"]["name"] == "p1" for e in herald.events(pipeline="p1"))
    assert len(herald.events(pipeline="p1")) == 3
    assert len(herald.events(result="Failed")) == 3
    assert len(herald.events(source="gocd")) == 8
    assert herald.events(source="jenkins") == []
    # paging: newest first, every event exactly once
    seen, cursor = [], None
    while True:
        q = "/api/v1/events?limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, page = herald.get_json(q)
        assert status == 200 and len(page["events"]) <= 3
        seen += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 8


@pytest.mark.parametrize("query,message", [
    ("limit=0", "query parameter limit: expected a whole number from 1 to 500"),
    ("limit=abc", "query parameter limit: expected a whole number from 1 to 500"),
    ("cursor=-4", "query parameter cursor: expected a whole number from 1 to"),
])
def test_bad_queries(herald, query, message):
    status, data = herald.get_json("/api/v1/events?" + query)
    assert status == 400 and data["error"].startswith(message), data


def test_one_event_errors(herald):
    assert herald.get_json("/api/v1/events/12345") == (404, {"error": "no event with id 12345"})
    status, data = herald.get_json("/api/v1/events/abc")
    assert status == 400 and data["error"].startswith("event id: expected a positive whole number")


@pytest.mark.valgrind
def test_metrics(herald):
    send(herald, stage_body("m", 1, "s", "Passed", "Passed"))
    # An unknown state is stored with a warning; no pipeline name is refused.
    send(herald, stage_body("m", 2, "s", "Exploded", "Passed"))
    bad = stage_body("m", 3, "s", "Passed", "Passed")
    del bad["pipeline"]["name"]
    herald.gocd("stage-status", bad)
    herald.get("/nope")
    status, text = herald.get("/metrics")
    assert status == 200
    text = text.decode()
    assert 'herald_http_requests_total{endpoint="gocd_notification",status="200"} 3' in text
    assert 'herald_http_requests_total{endpoint="other",status="404"} 1' in text
    assert 'herald_events_total{kind="stage-status",outcome="accepted"} 2' in text
    assert 'herald_events_total{kind="stage-status",outcome="rejected"} 1' in text
    assert 'herald_ingest_warnings_total{source="gocd"} 1' in text
    assert "# TYPE herald_store_commit_batch_size histogram" in text
    assert "herald_store_commit_seconds_count" in text
    assert "herald_store_queue_depth 0" in text


def test_healthz(herald):
    status, data = herald.get_json("/healthz")
    assert status == 200 and data["status"] == "ok"
