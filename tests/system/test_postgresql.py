"""herald on PostgreSQL (--store): each test starts a PostgreSQL server of
its own (scripts/pg.sh), since it stops and starts it. Skipped where no
PostgreSQL server is installed; scripts/test.sh runs where one is."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, PG, ROOT, SLOW, pg_uri
from targets import Target
from test_delivery import config, event, send, wait_state

PG_SH = str(ROOT / "scripts" / "pg.sh")


@pytest.fixture
def pg():
    if not any(os.path.exists(f"/usr/lib/postgresql/{v}/bin/initdb") for v in range(12, 30)):
        pytest.skip("no PostgreSQL server installed")
    d = tempfile.mkdtemp(prefix="herald-pg-")
    uri = subprocess.run([PG_SH, "start", d], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    yield d, uri
    subprocess.run([PG_SH, "stop", d], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pg_db(request, tmp_path):
    """For a test that leaves the server running: a database of its own on
    the suite's server (HERALD_TEST_PG) when there is one, which saves
    starting a server; else the server of its own that pg starts."""
    if PG:
        return pg_uri(tmp_path / "pg")
    return request.getfixturevalue("pg")[1]


def with_password(uri, password):
    scheme, rest = uri.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def test_down_is_503_never_success_and_recovers_by_itself(pg, tmp_path, herald_factory):
    """PostgreSQL stopped and started again under load (two senders, and
    deliveries running): while it is down every answer is 503 and says
    why, never success; ingest and delivery come back by themselves; every
    acknowledged event is stored once and delivered."""
    import threading

    d, uri = pg
    target = Target().start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{target.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""", attempts=50)
    # The server trusts loopback, so any password works; none may be logged.
    h = herald_factory(["--config", str(cfg), "--store", with_password(uri, "s3cret-pw")])
    send(h, event(counter=1))
    target.wait(1)

    acked, refused, errors, stop = [], [], [], threading.Event()

    def load(tid):
        i = 0
        while not stop.is_set() and not errors:
            tag = f"L{tid}-{i}"
            i += 1
            status, answer = h.gocd("stage-status", event(counter=tag))
            if status == 200 and answer == {"status": "success"}:
                acked.append(tag)
            elif status == 503 and "PostgreSQL" in answer["messages"][0]:
                refused.append(tag)
            else:
                errors.append((status, answer))
            time.sleep(0.01)

    senders = [threading.Thread(target=load, args=(t,)) for t in range(2)]
    for t in senders:
        t.start()
    time.sleep(0.5)
    subprocess.run([PG_SH, "halt", d], check=True, capture_output=True)
    status, answer = h.gocd("stage-status", event(counter=2))
    assert status == 503, answer
    assert "PostgreSQL" in answer["messages"][0] or "connect" in answer["messages"][0], answer
    status, health = h.get_json("/healthz")
    assert status == 503 and health["status"] == "degraded", health
    time.sleep(1)

    subprocess.run([PG_SH, "resume", d], check=True, capture_output=True)
    deadline = time.time() + 30 * SLOW
    while True:
        status, answer = h.gocd("stage-status", event(counter=3))
        if status == 200:
            break
        assert status == 503, answer
        assert time.time() < deadline, "herald did not reconnect"
        time.sleep(0.2)
    assert answer == {"status": "success"}
    goal = len(acked) + 20  # the senders are acknowledged again too
    while len(acked) < goal and time.time() < deadline and not errors:
        time.sleep(0.05)
    stop.set()
    for t in senders:
        t.join()
    assert not errors, errors[:3]
    assert refused, "no request was refused while PostgreSQL was down"
    assert len(acked) >= goal

    status, _ = h.get_json("/healthz")
    assert status == 200
    counters = [e["pipeline"]["counter"] for e in h.all_events()]
    assert len(counters) == len(set(counters)), "an event was stored twice"
    assert "2" not in counters  # the refused one was not stored
    assert set(acked) | {"1", "3"} <= set(counters)
    # Delivery recovers by itself too: every stored event reaches the target.
    deadline = time.time() + 30 * SLOW
    while delivered_count(h) < len(counters) and time.time() < deadline:
        time.sleep(0.2)
    sent = {json.loads(r["body"])["pipeline"]["counter"] for r in target.requests}
    assert set(counters) <= sent
    print(f"\n{len(acked)} acknowledged, {len(refused)} refused with 503 while down")
    assert "s3cret-pw" not in h.log_text()
    target.stop()


def test_two_instances_share_the_work_and_deliver_each_once(pg_db, tmp_path, herald_factory):
    uri = pg_db
    target = Target().start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{target.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    a = herald_factory(["--config", str(cfg), "--store", uri])
    b = herald_factory(["--config", str(cfg), "--store", uri])
    for i in range(40):
        send(a if i % 2 else b, event(counter=i))
    wait_state(a, "delivered", 40, timeout=30)
    target.wait(40)
    time.sleep(1 * SLOW)  # room for a duplicate to show up
    counters = [r["body"] for r in target.requests]
    assert len(counters) == 40, f"{len(counters)} requests for 40 deliveries"
    # Both see every event, whichever took it.
    assert len(a.all_events()) == len(b.all_events()) == 40
    target.stop()


def test_a_delivery_one_instance_accepts_wakes_the_other_at_once(pg_db, tmp_path, herald_factory):
    """A's only delivery slot hangs on a target that never answers, so what
    A accepts next must be sent by B. B hears of it through LISTEN/NOTIFY
    (A's writer announces after its commit), not at its next poll (once a
    second): nine of ten deliveries reach the target within 350 ms."""
    uri = pg_db
    stuck = Target(script=("hang",), hang=30).start()
    target = Target().start()
    body = """
targets: [{{name: hook, url: "{url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
"""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cfg_a = config(tmp_path / "a", "  max_in_flight: 1\n" + body.format(url=stuck.url),
                   timeout="30s")
    cfg_b = config(tmp_path / "b", body.format(url=target.url))
    a = herald_factory(["--config", str(cfg_a), "--store", uri])
    send(a, event(counter=0))
    stuck.wait(1)  # A's one slot is taken until the test ends
    b = herald_factory(["--config", str(cfg_b), "--store", uri])
    latencies = []
    for i in range(1, 11):
        time.sleep(0.1)
        t0 = time.time()
        send(a, event(counter=i))
        got = target.wait(i, timeout=10 * SLOW)
        latencies.append(got[i - 1]["at"] - t0)
    print("\nwake latencies (ms):", [round(x * 1000) for x in latencies])
    assert sorted(latencies)[8] < 0.35 * SLOW, latencies
    assert [json.loads(r["body"])["pipeline"]["counter"] for r in target.requests] == \
        [str(i) for i in range(1, 11)]
    assert "found by polling" not in b.log_text()  # the listener never lost its connection
    target.stop()
    stuck.stop()


def test_the_configs_store_key_keeps_the_store_in_postgresql(pg_db, tmp_path, herald_factory):
    """store: in the config means --store: without --data or --store herald
    keeps its store in that database, and --store wins over it. The
    password in it shows nowhere: not in the log, the API's config, an
    error, or check-config's report (which gives the line and column)."""
    uri = pg_db
    cfg = config(tmp_path, f'store: "{with_password(uri, "cfg-s3cret")}"\n')
    a = herald_factory(["--config", str(cfg)], start=False)
    a.data_flag = False
    a.start()
    send(a, event(counter=7))
    assert "data in a PostgreSQL database" in a.log_text()
    status, body = a.get("/api/v1/config")
    assert status == 200 and b"cfg-s3cret" not in body and b"postgresql" not in body
    # Another instance on the database by --store sees the event: it is there.
    b = herald_factory(["--store", uri])
    assert [e["pipeline"]["counter"] for e in b.all_events()] == ["7"]

    # A config whose store is a server that is not there: --store wins...
    (tmp_path / "gone").mkdir()
    gone = config(tmp_path / "gone", 'store: "postgresql://nobody:cfg-s3cret@127.0.0.1:1/none"\n')
    c = herald_factory(["--config", str(gone), "--store", uri], start=False)
    c.data_flag = False
    c.start()
    assert len(c.all_events()) == 1
    # ... and without it herald tries that server, and says why it cannot.
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--config", str(gone)],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 1, r.stderr
    assert "cannot open the store" in r.stderr and "127.0.0.1" in r.stderr, r.stderr
    assert "cfg-s3cret" not in r.stderr + r.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text('delivery: {}\nstore: "mysql://herald:cfg-s3cret@db/herald"\n')
    r = subprocess.run([BIN, "check-config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{bad}:2:8: store: expected a PostgreSQL connection URI" in r.stdout + r.stderr
    assert "cfg-s3cret" not in r.stdout + r.stderr
    for h in (a, b, c):
        assert "cfg-s3cret" not in h.log_text()


def delivered_count(h):
    n, cursor = 0, None
    while True:
        q = "/api/v1/deliveries?state=delivered&limit=500" + (f"&cursor={cursor}" if cursor else "")
        status, data = h.get_json(q)
        assert status == 200, data
        n += len(data["deliveries"])
        cursor = data["next_cursor"]
        if not cursor:
            return n


def test_two_instances_killed_mid_load_lose_nothing_acknowledged(pg_db, tmp_path, herald_factory):
    """Events go to both instances while deliveries run; one is killed with
    kill -9, restarted, and killed again. Every acknowledged event is stored
    once and delivered at least once; only deliveries whose lease ran out
    mid-flight (the killed instance's) may be sent twice."""
    import threading
    from test_crash import sender

    uri = pg_db
    target = Target().start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{target.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""", attempts=50)
    a = herald_factory(["--config", str(cfg), "--store", uri])
    b = herald_factory(["--config", str(cfg), "--store", uri])
    acked, errors = [], []
    for round_ in range(2):
        stop = threading.Event()
        ts = [threading.Thread(target=sender, args=(h, f"{round_}{h is a}{t}", acked, stop, errors))
              for h in (a, b) for t in range(2)]
        for t in ts:
            t.start()
        goal = len(acked) + 150
        deadline = time.time() + 60 * SLOW
        while len(acked) < goal and time.time() < deadline and not errors:
            time.sleep(0.005)
        a.kill9()  # mid-load, and mid-delivery
        time.sleep(0.3)
        stop.set()
        for t in ts:
            t.join()
        assert not errors, errors[:3]
        a.start()
    acked = set(acked)
    stored = {}
    for e in b.all_events():
        stored.setdefault(e["pipeline"]["counter"], []).append(e["id"])
    missing = acked - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    twice = {tag: ids for tag, ids in stored.items() if len(ids) > 1}
    assert not twice, f"stored twice: {list(twice.items())[:5]}"
    # Deliveries the killed instance held come back once their lease ends.
    deadline = time.time() + 90 * SLOW
    while delivered_count(b) < len(stored) and time.time() < deadline:
        time.sleep(0.2)
    assert delivered_count(b) >= len(stored)
    sent = [json.loads(r["body"])["pipeline"]["counter"] for r in target.requests]
    assert set(sent) >= acked
    dups = len(sent) - len(set(sent))
    print(f"\n{len(acked)} acknowledged, {len(stored)} stored, {len(sent)} requests, "
          f"{dups} sent twice (their lease ran out when their instance was killed)")
    target.stop()


def test_a_server_that_never_answers_fails_the_start_within_the_connect_timeout(tmp_path):
    """An address where connections are taken (by the kernel's backlog) but
    nothing ever answers, as a hung PostgreSQL or a half-dead proxy: herald
    gives up connecting after its connect timeout (5 s) and says why,
    instead of waiting forever. Needs no PostgreSQL server."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)  # never accept()ed, never answered
        port = s.getsockname()[1]
        t0 = time.time()
        r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--store",
                            f"postgresql://nobody@127.0.0.1:{port}/herald"],
                           capture_output=True, text=True, timeout=120 * SLOW)
        took = time.time() - t0
    assert r.returncode == 1, r.stderr
    assert "cannot open the store" in r.stderr, r.stderr
    assert "timeout" in r.stderr and f"{port}" in r.stderr, r.stderr
    assert 4 < took < 20 * SLOW, f"gave up after {took:.1f} s"
