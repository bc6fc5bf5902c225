"""Bad input gets a clear error naming the field and what was expected, with
the right status, and never a crash, a hang or a half-written record. GoCD
never sends a notification twice, so a GoCD body herald can identify is
stored whatever else is wrong with it, and the problems are its warnings."""
import json
import socket

import pytest

from conftest import PAYLOADS

GOOD = (PAYLOADS / "stage-status_v4_completed_failed.json")


def good():
    return json.loads(GOOD.read_text())


def rejected(herald, body, version="4.0", kind="stage-status"):
    before = len(herald.events())
    status, answer = herald.gocd(kind, body, version=version)
    assert status == 200, answer
    assert answer["status"] == "failure", answer
    assert len(herald.events()) == before, "a rejected body must store nothing"
    return answer["messages"]


def warned(herald, body, version="4.0", kind="stage-status"):
    """Stores body (GoCD is answered success); returns the event's warnings."""
    before = len(herald.events())
    status, answer = herald.gocd(kind, body, version=version)
    assert (status, answer) == (200, {"status": "success"}), answer
    evs = herald.events()
    assert len(evs) == before + 1
    return evs[0]["warnings"]


@pytest.mark.valgrind
def test_wrong_enum_names_path_and_choices(herald):
    body = good()
    body["pipeline"]["stage"]["state"] = "Exploded"
    assert warned(herald, body) == [
        'pipeline.stage.state: expected one of Building, Failing, Passed, Failed, Cancelled, '
        'Unknown; got "Exploded"']


def test_every_problem_is_reported(herald):
    body = good()
    body["pipeline"]["stage"]["jobs"][0]["result"] = 7
    body["pipeline"]["stage"]["create-time"] = "yesterday"
    msgs = warned(herald, body)
    assert len(msgs) == 2, msgs
    assert msgs[0].startswith("pipeline.stage.create-time: expected a timestamp"), msgs
    assert msgs[1].startswith("pipeline.stage.jobs[0].result: expected one of") and \
        msgs[1].endswith("got 7"), msgs
    # Without a name the event cannot be identified: that alone refuses it.
    del body["pipeline"]["name"]
    assert rejected(herald, body) == ["pipeline.name: expected a string; got nothing"]


def test_v4_previous_stage_counter_must_be_a_number(herald):
    body = good()
    body["pipeline"]["stage"]["previous-stage-counter"] = "1"
    msgs = warned(herald, body)
    assert len(msgs) == 1 and msgs[0].startswith("pipeline.stage.previous-stage-counter: expected")


def test_agent_enum_is_checked(herald):
    body = json.loads((PAYLOADS / "agent-status_v4_capitalised_lostcontact.json").read_text())
    body["agent_state"] = "Asleep"
    msgs = warned(herald, body, kind="agent-status")
    assert len(msgs) == 1 and msgs[0].startswith("agent_state: expected one of") and \
        msgs[0].endswith('got "Asleep"'), msgs


@pytest.mark.parametrize("raw,start", [
    (b'{"pipeline": ', "invalid JSON at line 1"),
    (b"", "invalid JSON: the body is empty"),
    (b'{"pipeline": {}, "pipeline": {}}', "invalid JSON at line 1"),
    (b'{"pipeline": {"name": "\xff\xfe"}}', "invalid JSON at line 1"),
    (b"[" * 40 + b"]" * 40, "invalid JSON: nested deeper than 32 levels at byte 32"),
])
def test_malformed_bodies(herald, raw, start):
    status, answer = herald.gocd("stage-status", raw)
    assert status == 200
    assert answer["status"] == "failure"
    assert len(answer["messages"]) == 1 and answer["messages"][0].startswith(start), answer


def test_duplicate_key_is_named(herald):
    status, answer = herald.gocd("stage-status", b'{"pipeline": {}, "pipeline": {}}')
    assert "duplicate" in answer["messages"][0]


def test_array_root_is_refused(herald):
    msgs = rejected(herald, [])
    assert msgs == ["(root): expected an object; got an array"] or \
        msgs[0].endswith("expected an object; got an array"), msgs


def test_oversized_body_is_413(herald):
    big = b'{"x":"' + b"a" * (1024 * 1024) + b'"}'
    status, answer = herald.gocd("stage-status", big)
    assert status == 413
    assert answer == {"error": "request body is larger than the limit of 1048576 bytes"}
    # and the server is fine afterwards
    assert herald.get("/healthz")[0] == 200


def test_oversized_chunked_body_is_413(herald):
    s = socket.create_connection(("127.0.0.1", herald.port))
    s.sendall(b"POST /gocd/notification/stage-status HTTP/1.1\r\nHost: x\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * 65536
    for _ in range(17):
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    answer = s.recv(4096)
    s.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


def test_truncated_request_does_not_hang_the_server(herald):
    s = socket.create_connection(("127.0.0.1", herald.port))
    s.sendall(b"POST /gocd/notification/stage-status HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 1000\r\n\r\n{\"pipeline\"")
    s.close()
    status, answer = herald.gocd("stage-status", good())
    assert (status, answer) == (200, {"status": "success"})


def test_too_many_problems_are_bounded(herald):
    body = good()
    body["pipeline"]["stage"]["jobs"] = [{"name": 1, "state": 2, "result": 3}] * 30
    msgs = warned(herald, body)
    assert len(msgs) == 21
    assert msgs[-1].startswith("... and ") and msgs[-1].endswith(" more problems")
