"""A full or read-only disk: herald answers failure with the reason, never
success, and works again once the disk does. Needs root (it mounts a small
tmpfs); skipped otherwise."""
import json
import os
import subprocess
import time
from collections import Counter

import pytest

from conftest import PAYLOADS
from targets import Target
from test_delivery import config, wait_state

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
TEMPLATE = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())


@pytest.fixture
def small_disk(tmp_path):
    d = tmp_path / "disk"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def body(counter):
    b = json.loads(json.dumps(TEMPLATE))
    b["pipeline"]["name"] = "disk"
    b["pipeline"]["counter"] = str(counter)
    return b


def fill(path):
    """Fills the filesystem: unbuffered writes of shrinking sizes until even
    512 bytes no longer fit."""
    with open(path, "wb", buffering=0) as f:
        for size in (65536, 4096, 512):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


@pytest.mark.sqlite_only
def test_full_disk_answers_failure_and_recovers(herald_factory, small_disk):
    h = herald_factory(data_dir=small_disk / "data")
    filler = small_disk / "filler"
    fill(filler)
    acked, failures = [], []
    for i in range(400):
        status, answer = h.gocd("stage-status", body(i))
        if status == 200 and answer == {"status": "success"}:
            acked.append(str(i))
        else:
            assert status == 503, (status, answer)
            assert answer["status"] == "failure"
            failures.append(answer["messages"][0])
            if len(failures) > 5:
                break
    assert failures, "the disk never filled up"
    assert all("full" in m for m in failures), failures
    assert failures[0].startswith("herald could not store the event: ")
    # room again: the store works again without a restart
    os.unlink(filler)
    status, answer = h.gocd("stage-status", body("after"))
    assert (status, answer) == (200, {"status": "success"}), answer
    # and every acknowledged event is there after a restart
    h.stop()
    h.start()
    stored = {e["pipeline"]["counter"] for e in h.all_events()}
    assert set(acked) | {"after"} <= stored


@pytest.mark.sqlite_only
def test_read_only_disk_is_refused_at_start(herald_factory, small_disk):
    """A filesystem cannot be remounted read-only while herald holds the
    database open for writing, so the read-only case that really happens is
    a data folder that went read-only while herald was down: herald must
    refuse to start and say why, not run and answer success."""
    h = herald_factory(data_dir=small_disk / "data")
    status, answer = h.gocd("stage-status", body(1))
    assert status == 200
    assert h.stop() == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        h.start(wait=False)
        rc = h.proc.wait(60)
        h.proc = None
        assert rc == 1
        log = h.log_text()
        assert "cannot open the store" in log, log[-2000:]
        assert "cannot write to the data folder" in log and "Read-only file system" in log, \
            log[-2000:]
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    h.start()
    assert {e["pipeline"]["counter"] for e in h.all_events()} == {"1"}


def fill_until_refused(h):
    """Sends events until the store refuses them (503, the disk full);
    returns the counters stored before that."""
    acked = []
    for i in range(400):
        status, answer = h.gocd("stage-status", body(i))
        if status == 503:
            assert "full" in answer["messages"][0], answer
            return acked
        assert status == 200, (status, answer)
        acked.append(i)
    raise AssertionError("the disk never filled up")


@pytest.mark.sqlite_only
def test_full_disk_sends_each_delivery_once_until_it_can_be_recorded(
        tmp_path, herald_factory, small_disk):
    """A delivery whose outcome cannot be recorded is not sent again: herald
    keeps the outcome and records it once the disk has room."""
    t = Target(["hang", 200], hang=9).start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/hook"}}]
routes: [{{name: all, targets: [hook]}}]
""", attempts=50, timeout="5s")
    h = herald_factory(["--config", str(cfg)], data_dir=small_disk / "data")
    status, _ = h.gocd("stage-status", body("first"))
    assert status == 200
    t.wait(1)  # hangs: its outcome (a timeout, retry) comes once the disk is full
    hung_at = time.time()
    filler = small_disk / "filler"
    fill(filler)
    acked = fill_until_refused(h)
    assert time.time() - hung_at < 4.5, "the disk filled only after the hung request's timeout"
    # the hung request times out (5 s) once the disk is full; watch what
    # follows for 4 s more
    time.sleep(max(0.0, hung_at + 9 - time.time()))
    sent = Counter(r["headers"]["webhook-id"] for r in t.requests)
    assert sent.most_common(1)[0][1] == 1, f"sent again while the disk was full: {sent}"
    assert "could not record attempt 1 of delivery 1" in h.log_text(), h.log_text()[-3000:]
    assert h.get("/healthz")[0] == 503

    os.unlink(filler)
    wait_state(h, "delivered", 1 + len(acked), timeout=60)
    sent = Counter(r["headers"]["webhook-id"] for r in t.requests)
    # the hung one once more (its retry), every other one once
    assert sent.pop("herald-1") == 2, sent
    assert set(sent.values()) <= {1}, sent
    assert "is recorded after" in h.log_text()
    h.stop()
    t.stop()


@pytest.mark.sqlite_only
def test_healthz_is_degraded_while_the_disk_is_full(herald_factory, small_disk):
    h = herald_factory(data_dir=small_disk / "data")
    status, health = h.get_json("/healthz")
    assert (status, health["status"]) == (200, "ok")
    filler = small_disk / "filler"
    fill(filler)
    fill_until_refused(h)
    status, health = h.get_json("/healthz")
    assert status == 503, health
    assert health["status"] == "degraded"
    assert "database or disk is full" in health["reason"], health
    assert "free disk space" in health["reason"]
    # a write that succeeds makes it healthy again
    os.unlink(filler)
    status, answer = h.gocd("stage-status", body("after"))
    assert (status, answer) == (200, {"status": "success"}), answer
    status, health = h.get_json("/healthz")
    assert (status, health["status"]) == (200, "ok"), health
    assert "reason" not in health
