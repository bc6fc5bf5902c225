"""One herald per data folder, and a folder only herald can read: a second
herald on a folder is refused and the first keeps working; a herald that
cannot bind its port sends nothing; the folder and the database files are
private."""
import os
import socket
import sqlite3
import stat
import time

import pytest

from conftest import SLOW, Herald
from targets import Target
from test_delivery import config, event, send, wait_state


def wait_exit(h, timeout):
    """The exit code of a herald expected to refuse to start."""
    try:
        rc = h.proc.wait(timeout)
    except Exception:
        h.stop()
        raise AssertionError("the second herald did not refuse to start")
    h.proc = None
    h.log.close()
    return rc


@pytest.mark.sqlite_only
def test_second_herald_on_a_folder_is_refused(tmp_path, herald_factory):
    t = Target().start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/hook"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    first = herald_factory(["--config", str(cfg)])
    second = herald_factory(["--config", str(cfg)], data_dir=first.data_dir, start=False)
    second.start(wait=False)
    rc = wait_exit(second, 10 * SLOW)
    assert rc != 0
    log = second.log_text()
    assert f"the data folder {first.data_dir} is in use by another herald " \
           f"(pid {first.proc.pid})" in log, log[-2000:]
    assert "run one herald per data folder" in log
    # the first keeps working, and every delivery is sent once
    for i in range(20):
        send(first, event(counter=i))
    wait_state(first, "delivered", 20)
    time.sleep(0.3)
    ids = [r["headers"]["webhook-id"] for r in t.requests]
    assert len(ids) == 20 and len(set(ids)) == 20, ids
    assert first.get("/healthz")[0] == 200
    t.stop()


@pytest.mark.sqlite_only
def test_a_herald_that_cannot_bind_claims_nothing(tmp_path, herald_factory):
    t = Target(paths={"/hang": "hang"}, hang=8).start()
    hanging = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/hang"}}]
routes: [{{name: all, targets: [hook]}}]
""", timeout="30s")
    # Deliveries due in the folder, never attempted: their requests were
    # in flight when herald stopped.
    h = herald_factory(["--config", str(hanging)])
    for i in range(4):
        send(h, event(counter=i))
    t.wait(4, timeout=5 * SLOW)
    h.stop()
    db = h.data_dir / "herald.db"

    def states():
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return (c.execute("SELECT state, attempts FROM deliveries ORDER BY id").fetchall(),
                    c.execute("SELECT count(*) FROM attempts").fetchone()[0])
    before = states()
    assert before == ([("pending", 0)] * 4, 0), before

    answering = tmp_path / "answering.yaml"
    answering.write_text(hanging.read_text().replace("/hang", "/ok"))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        # Many times: a herald that claimed before binding did not always
        # get a request out before it stopped.
        for _ in range(20):
            b = Herald(h.data_dir, tmp_path / "bind.log", ["--config", str(answering)])
            b.start(port=port, wait=False)
            assert wait_exit(b, 10 * SLOW) != 0
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in b.log_text()
    finally:
        taken.close()
    time.sleep(0.5)
    assert [r["path"] for r in t.requests if r["path"] == "/ok"] == [], "a refused herald sent"
    assert states() == before, "a refused herald touched deliveries"

    # The next herald that can serve delivers every one of them, once.
    ok = herald_factory(["--config", str(answering)], data_dir=h.data_dir)
    wait_state(ok, "delivered", 4)
    assert len([r for r in t.requests if r["path"] == "/ok"]) == 4
    t.stop()


@pytest.mark.sqlite_only
def test_folder_and_database_files_are_private(tmp_path, herald_factory):
    h = herald_factory(data_dir=tmp_path / "fresh")
    status, _ = h.gocd("stage-status", event())
    assert status == 200
    assert stat.S_IMODE(os.stat(h.data_dir).st_mode) == 0o700
    for name in ("herald.db", "herald.db-wal", "herald.db-shm", "herald.lock"):
        mode = stat.S_IMODE(os.stat(h.data_dir / name).st_mode)
        assert mode == 0o600, f"{name} has mode {mode:o}"
