"""herald migrate-store: a store kept in SQLite moves into an empty
PostgreSQL database, and herald serving that database answers as herald
serving the folder did (events, deliveries and their attempts, stage and
job state, package revisions, request ids, the id sequences)."""
import json
import sqlite3
import subprocess
import time

import conftest
from conftest import BIN, SLOW
from targets import Target
from test_delivery import config, event, wait_state
from test_packages import publish, revision
from test_postgresql import pg, pg_db  # noqa: F401 (fixtures)

TOKEN = "tok-migrate-store"
RID = {"X-Herald-Request-Id": "bridge-spool-000007"}


def migrate(data, uri):
    return subprocess.run([BIN, "migrate-store", "--from", str(data), "--to", uri],
                          capture_output=True, text=True, timeout=120 * SLOW)


def pages(h, path, key):
    out, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        status, data = h.get_json(path + sep + "limit=500" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, data
        out += data[key]
        cursor = data.get("next_cursor")
        if not cursor:
            return out


def answers(h):
    """What the API answers about everything stored."""
    events = h.all_events()
    return {
        "events": events,
        "full": [h.get_json(f"/api/v1/events/{e['id']}")[1] for e in events],
        "deliveries": pages(h, "/api/v1/deliveries", "deliveries"),
        "stages": h.get_json("/api/v1/stages")[1],
        "jobs": h.get_json("/api/v1/jobs")[1],
        "settings": h.get_json("/api/v1/settings")[1],
        "packages": h.get_json("/api/v1/packages")[1],
        "revisions": h.get_json("/api/v1/packages/releases/app/revisions")[1],
    }


def notify(h, status, build):
    r = subprocess.run([BIN, "notify", "--url", f"http://127.0.0.1:{h.port}", "--token", TOKEN,
                        "--status", status, "--job", "team/app", "--build", str(build),
                        "--branch", "main"], capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr


def test_migrate_store_moves_a_sqlite_store_into_postgresql(pg_db, tmp_path, herald_factory,
                                                            monkeypatch):
    monkeypatch.setattr(conftest, "STORE", "sqlite")  # the source is SQLite, whatever the run
    uri = pg_db
    target = Target(paths={"/gone": 400}).start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{target.url}/x"}}, {{name: gone, url: "{target.url}/gone"}}]
routes:
  - {{name: all, targets: [hook]}}
  - {{name: failed, match: {{result: Failed}}, targets: [gone]}}
jenkins: {{token: {TOKEN}}}
""", attempts=1)
    data = tmp_path / "data"
    a = herald_factory(["--config", str(cfg), "--insecure-local"], data_dir=data)
    for counter, result in [(1, "Failed"), (2, "Passed"), (3, "Failed")]:
        status, answer = a.gocd("stage-status", event(counter=counter, state=result,
                                                       result=result))
        assert status == 200, answer
    status, answer = a.request("POST", "/gocd/notification/stage-status",
                               json.dumps(event(counter=4, state="Passed", result="Passed")),
                               {"Content-Type": "application/json",
                                "X-Go-Extension-Version": "4.0", **RID})
    assert status == 200, answer
    notify(a, "failure", 1)
    notify(a, "success", 2)
    status, answer = publish(a, "releases", "app", revision(1))
    assert status in (200, 201), answer
    wait_state(a, "delivered", 6)
    wait_state(a, "dead", 2)
    # herald's own target-health events (for the dead letters) have
    # deliveries too: the snapshot waits until nothing is left to send.
    deadline = time.time() + 20
    while any(d["state"] in ("pending", "retrying")
              for d in pages(a, "/api/v1/deliveries", "deliveries")):
        assert time.time() < deadline, "deliveries still due"
        time.sleep(0.05)
    before = answers(a)
    assert [e["transition"] for e in before["events"] if e["source"] == "gocd"] == \
        ["fixed", "broken", "fixed", "failed"]

    r = migrate(data, uri)  # herald still serves the folder
    assert r.returncode == 1 and "pid" in r.stderr, r.stderr
    a.stop()
    r = migrate(data, uri)
    assert r.returncode == 0, r.stderr
    # 7 events sent, plus herald's own target-health events (the dead letters).
    n = len(before["events"])
    assert n >= 7 and f"events: {n} rows" in r.stdout and "migrated " in r.stdout, r.stdout
    assert uri not in r.stdout + r.stderr

    # The GoCD events' rows keep no document (herald derives it from the
    # raw body on read): the NULLs are copied as NULLs.
    gocd = sum(e["source"] == "gocd" for e in before["events"])
    lite = sqlite3.connect(f"file:{data}/herald.db?mode=ro", uri=True)
    assert lite.execute("SELECT count(*) FROM events WHERE doc IS NULL").fetchone() == (gocd,)
    lite.close()
    nulls = subprocess.run(["psql", "-tAq", uri, "-c",
                            "SELECT count(*) FROM events WHERE doc IS NULL"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert nulls == str(gocd)

    b = herald_factory(["--config", str(cfg), "--insecure-local", "--store", uri])
    after = answers(b)
    for key in before:
        assert after[key] == before[key], key

    # The request id is known: the bridge's retry gets the event it stored.
    n = len(after["events"])
    status, answer = b.request("POST", "/gocd/notification/stage-status",
                               json.dumps(event(counter=4, state="Passed", result="Passed")),
                               {"Content-Type": "application/json",
                                "X-Go-Extension-Version": "4.0", **RID})
    assert status == 200, answer
    assert len(b.all_events()) == n
    # New rows take ids after every migrated one, and the stage's and the
    # job's last results decide the next transitions.
    status, answer = b.gocd("stage-status", event(counter=5, state="Failed", result="Failed"))
    assert status == 200, answer
    notify(b, "failure", 3)
    # (herald's own target-health events, for the dead letters, interleave)
    newest = [e for e in b.events(limit=10) if e["source"] != "herald"][:2]
    assert newest[0]["id"] > newest[1]["id"] > max(e["id"] for e in after["events"])
    assert newest[1]["transition"] == "broken"  # the stage passed last (counter 4)
    assert newest[0]["transition"] == "broken"  # the job passed last (build 2)
    deliveries = pages(b, "/api/v1/deliveries", "deliveries")
    assert len({d["id"] for d in deliveries}) == len(deliveries)
    wait_state(b, "dead", 4)

    # Once it holds data the database is refused.
    b.stop()
    r = migrate(data, uri)
    assert r.returncode == 1
    assert "is not empty" in r.stderr and "give it a new database" in r.stderr, r.stderr
    target.stop()
