"""Commit statuses per git material: a GoCD stage whose build cause has
several changed git materials on a commit-status target's host makes one
delivery per changed material (its subject "owner/repo@sha", its own order
key), and the local GitHub-like server receives each commit's statuses,
and only theirs; a target with `repository:` reports that one alone."""
import json
import time

from conftest import SLOW
from targets import Target
from test_delivery import deliveries, send, wait_state
from test_state_targets import OTHER_SHA, SHA, herald_with, stage

DOCS_SHA = "0123456789abcdef0123456789abcdef01234567"
ELSEWHERE_SHA = "fedcba9876543210fedcba9876543210fedcba98"
MATERIALS = [("https://github.com/acme/app.git", SHA, True),
             ("git@github.com:acme/lib.git", OTHER_SHA, True),
             ("https://github.com/acme/docs.git", DOCS_SHA, False),      # unchanged
             ("https://gitlab.com/acme/app.git", ELSEWHERE_SHA, True)]   # another host
APP = f"/repos/acme/app/statuses/{SHA}"
LIB = f"/repos/acme/lib/statuses/{OTHER_SHA}"


def states_by_path(requests):
    """Each path's states in the order they arrived."""
    got = {}
    for r in requests:
        got.setdefault(r["path"], []).append(json.loads(r["body"])["state"])
    return got


def assert_ends(states, last):
    """The latest state wins: it comes last, and nothing older after it."""
    assert states[-1] == last, states
    assert "pending" not in states[states.index(last):], states


def test_one_status_per_changed_git_material(tmp_path, herald_factory):
    every, named = Target([201]).start(), Target([201]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: gh, type: github, token: t,
      api_url: "{every.url}", host: github.com}}
  - {{name: lib, type: github, token: t, api_url: "{named.url}", host: github.com,
      repository: acme/lib}}""", ["gh", "lib"])
    send(h, stage("Building", "Unknown", materials=MATERIALS))
    every.wait(2, timeout=20 * SLOW)
    named.wait(1, timeout=20 * SLOW)
    send(h, stage("Passed", "Passed", materials=MATERIALS))
    wait_state(h, "delivered", 6)
    got = states_by_path(every.wait(4, timeout=20 * SLOW))
    assert got == {APP: ["pending", "success"], LIB: ["pending", "success"]}, got
    assert states_by_path(named.wait(2, timeout=20 * SLOW)) == {LIB: ["pending", "success"]}

    # The API names each delivery's material; each has its own order key.
    ds = deliveries(h, target="gh", limit=50)
    assert len(ds) == 4
    subjects = sorted({d["subject"] for d in ds})
    assert subjects == [f"acme/app@{SHA}", f"acme/lib@{OTHER_SHA}"]
    for d in ds:
        assert d["order_key"].endswith(" " + d["subject"]), d
    assert len({d["order_key"] for d in ds}) == 2
    status, one = h.get_json(f"/api/v1/deliveries/{ds[0]['id']}")
    assert status == 200 and one["subject"] == ds[0]["subject"]
    assert all(d["subject"] is None for d in deliveries(h, target="lib", limit=50))

    # Two states of one run sent at once: per material the latest wins (the
    # older may be superseded or sent first), and neither material's
    # states supersede the other's.
    send(h, stage("Building", "Unknown", counter=2, materials=MATERIALS))
    send(h, stage("Failed", "Failed", counter=2, materials=MATERIALS))
    deadline = time.time() + 20 * SLOW
    while True:
        later = states_by_path(list(every.requests[4:]))
        if all(later.get(p, [None])[-1] == "failure" for p in (APP, LIB)):
            break
        assert time.time() < deadline, later
        time.sleep(0.05)
    assert set(later) == {APP, LIB}, later
    for path in (APP, LIB):
        assert_ends(later[path], "failure")
    # Every delivery ends delivered or superseded (6 per run: 4 to gh, 2 to lib).
    while True:
        ds = deliveries(h, limit=50)
        if all(d["state"] in ("delivered", "superseded") for d in ds):
            break
        assert time.time() < deadline, ds
        time.sleep(0.05)
    assert len(ds) == 12
    every.stop()
    named.stop()


def test_nothing_changed_reports_one_commit(tmp_path, herald_factory):
    """A run no material triggered (a timer, a rerun) keeps one delivery:
    the first git material on the host."""
    t = Target([201]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: gh, type: github, token: t,
      api_url: "{t.url}", host: github.com}}""", ["gh"])
    quiet = [(url, rev, False) for url, rev, _ in MATERIALS]
    send(h, stage("Passed", "Passed", materials=quiet))
    (d,) = wait_state(h, "delivered", 1)
    assert d["subject"] is None
    assert [r["path"] for r in t.wait(1, timeout=20 * SLOW)] == [APP]
    t.stop()
