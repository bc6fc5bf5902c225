"""Nothing acknowledged is lost: kill -9 the real daemon while events flow,
restart it, and find every acknowledged event, whole."""
import http.client
import json
import signal
import sqlite3
import threading
import time

import pytest

from conftest import PAYLOADS, SLOW, STORE

TEMPLATE = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())


def body(tag):
    b = json.loads(json.dumps(TEMPLATE))
    b["pipeline"]["name"] = "crash"
    b["pipeline"]["counter"] = tag
    return json.dumps(b).encode()


def sender(h, tid, acked, stop, errors):
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10 * SLOW)
    i = 0
    while not stop.is_set():
        tag = f"{tid}-{i}"
        i += 1
        try:
            conn.request("POST", "/gocd/notification/stage-status", body(tag),
                         {"X-Go-Extension-Version": "4.0", "Content-Type": "application/json"})
            r = conn.getresponse()
            answer = json.loads(r.read())
        except (OSError, http.client.HTTPException, ValueError):
            return  # the daemon died under us: this one was never acknowledged
        if r.status == 200 and answer == {"status": "success"}:
            acked.append(tag)
        elif r.status == 503 and "shutting down" in answer["messages"][0]:
            return  # after SIGTERM: refused, so never acknowledged
        else:
            errors.append((r.status, answer))
            return


def run_and_kill(h, threads, target, sig):
    acked, errors, stop = [], [], threading.Event()
    ts = [threading.Thread(target=sender, args=(h, t, acked, stop, errors)) for t in range(threads)]
    for t in ts:
        t.start()
    deadline = time.time() + 60 * SLOW
    while len(acked) < target and time.time() < deadline and not errors:
        time.sleep(0.001)
    rc = h.stop(sig)  # while the senders are still sending
    stop.set()
    for t in ts:
        t.join()
    assert not errors, errors[:3]
    return set(acked), rc


def check_store(h, acked):
    if STORE == "sqlite":
        db = sqlite3.connect(h.data_dir / "herald.db")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
    stored = {}
    for e in h.all_events():
        assert e["pipeline"]["name"] == "crash"
        stored.setdefault(e["pipeline"]["counter"], []).append(e["id"])
    missing = acked - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    # whole records: every stored event's raw body is the body that was sent
    for tag, ids in list(stored.items())[:50]:
        status, one = h.get_json(f"/api/v1/events/{ids[0]}")
        assert status == 200 and one["raw"].encode() == body(tag)
    return stored


@pytest.mark.slow
def test_kill9_loses_no_acknowledged_event(herald_factory):
    h = herald_factory()
    acked, rc = run_and_kill(h, threads=8, target=3000, sig=signal.SIGKILL)
    assert rc == -signal.SIGKILL
    h.start()
    stored = check_store(h, acked)
    print(f"\nacknowledged {len(acked)}, stored {len(stored)} "
          f"({len(stored) - len(acked)} stored but not acknowledged when killed)")


def test_kill9_small(herald_factory):
    """The same, smaller, so it also runs under the sanitizers."""
    h = herald_factory()
    acked, rc = run_and_kill(h, threads=4, target=200, sig=signal.SIGKILL)
    h.start()
    check_store(h, acked)


def test_sigterm_answers_and_commits_what_it_accepted(herald_factory):
    h = herald_factory()
    acked, rc = run_and_kill(h, threads=8, target=300, sig=signal.SIGTERM)
    assert rc == 0
    assert "stopped cleanly" in h.log_text()
    h.start()
    check_store(h, acked)
