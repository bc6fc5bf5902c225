"""Operators act in bulk, through the real daemon and `herald replay`: the
deliveries a filter matches (target, state, time range) are counted first
(a dry run changes nothing), then dropped (state "dropped": kept, shown,
never sent) or replayed; both are writes that need herald's API token."""
import json
import time

from conftest import SLOW
from targets import Target
from test_api_token import JSON, bearer, config, replay_cli, send_event, token_file, TOKEN
from test_delivery import wait_state


def start(tmp_path, herald_factory, down, up, attempts=1, backoff="200ms"):
    cfg = config(tmp_path, f"""
delivery:
  max_attempts: {attempts}
  backoff_initial: {backoff}
  backoff_max: 1s
  connect_timeout: 500ms
  timeout: 1s
  allow: [127.0.0.0/8]
  # No circuit: a delivery to the failing target dies at max_attempts
  # (with one, a target failing as a whole holds them instead).
  circuit: {{failures: 0}}
targets:
  - {{name: down, url: "{down.url}/x"}}
  - {{name: up, url: "{up.url}/x"}}
routes: [{{name: all, targets: [down, up]}}]
""")
    return herald_factory(["--api-token-file", str(token_file(tmp_path)), "--config", str(cfg)])


def post(h, path, body, token=TOKEN):
    status, data = h.request("POST", path, body, {**JSON, **bearer(token)})
    return status, json.loads(data)


def test_drop_and_replay_in_bulk_with_the_count_first(tmp_path, herald_factory):
    down, up = Target([503]).start(), Target().start()
    h = start(tmp_path, herald_factory, down, up)
    for i in range(5):
        send_event(h, counter=i + 1)
    wait_state(h, "dead", 5, token=TOKEN)
    wait_state(h, "delivered", 5, token=TOKEN)
    assert len(down.requests) == 5

    # The count first: nothing changes.
    status, got = post(h, "/api/v1/deliveries/drop?dry_run=true",
                       {"target": "down", "state": "dead"})
    assert (status, got) == (200, {"matched": 5})
    status, got = post(h, "/api/v1/deliveries/replay", {"state": "dead", "dry_run": True})
    assert (status, got) == (200, {"matched": 5})
    r = replay_cli(h, "--target", "down", "--state", "dead", "--dry-run", "--token", TOKEN)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "5 deliveries match; nothing was replayed (--dry-run)\n"
    assert len(wait_state(h, "dead", 5, token=TOKEN)) == 5

    # Without the token, nothing is dropped.
    status, _ = post(h, "/api/v1/deliveries/drop", {"target": "down"}, token="wrong")
    assert status == 401
    # Delivered ones cannot be dropped, and the filter is checked.
    status, got = post(h, "/api/v1/deliveries/drop", {"state": "delivered"})
    assert status == 400 and "only pending, retrying and dead" in got["messages"][0], got
    status, got = post(h, "/api/v1/deliveries/drop", {"state": "gone"})
    assert status == 400 and got["messages"][0] == (
        'state: expected one of pending, retrying, delivered, dead, skipped, superseded, '
        'dropped; got "gone"'), got
    status, got = post(h, "/api/v1/deliveries/drop", {})
    assert status == 400, got

    # Dropping: by the CLI, the filter matching only the target's undelivered ones.
    r = replay_cli(h, "--target", "down", "--drop", "--token", TOKEN)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "5 deliveries dropped (kept, never sent)\n"
    dropped = wait_state(h, "dropped", 5, token=TOKEN)
    assert {d["target"] for d in dropped} == {"down"}
    assert len(wait_state(h, "delivered", 5, token=TOKEN)) == 5
    # A dead-letter replay no longer finds them, and nothing is sent.
    status, got = post(h, "/api/v1/deliveries/replay", {"state": "dead"})
    assert (status, got) == (200, {"reset": 0})
    time.sleep(1.0 * SLOW)
    assert len(down.requests) == 5

    # Replaying the dropped ones brings them back, and they are sent.
    down.script = [200]
    status, got = post(h, "/api/v1/deliveries/replay?dry_run=true",
                       {"target": "down", "state": "dropped"})
    assert (status, got) == (200, {"matched": 5})
    status, got = post(h, "/api/v1/deliveries/replay", {"target": "down", "state": "dropped"})
    assert (status, got) == (200, {"reset": 5})
    down.wait(10)
    assert len(wait_state(h, "delivered", 10, token=TOKEN)) == 10


def test_drop_holds_pending_deliveries_back(tmp_path, herald_factory):
    """Retrying deliveries (a target that keeps failing) are dropped in a
    time range, and are not attempted again."""
    down, up = Target([503]).start(), Target().start()
    h = start(tmp_path, herald_factory, down, up, attempts=50, backoff="300ms")
    since = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    for i in range(3):
        send_event(h, counter=i + 1)
    down.wait(6, timeout=20 * SLOW)
    status, got = post(h, "/api/v1/deliveries/drop?dry_run=true",
                       {"target": "down", "state": "retrying", "since": since})
    assert status == 200 and 1 <= got["matched"] <= 3, got
    status, got = post(h, "/api/v1/deliveries/drop", {"target": "down", "since": since})
    assert (status, got) == (200, {"dropped": 3})
    wait_state(h, "dropped", 3, token=TOKEN)
    time.sleep(0.5 * SLOW)  # an attempt in flight when they were dropped ends
    n = len(down.requests)
    time.sleep(1.5 * SLOW)
    assert len(down.requests) == n, "a dropped delivery was attempted again"
    assert len(wait_state(h, "dropped", 3, token=TOKEN)) == 3
