"""GoCD never sends a notification twice, so herald stores every body it can
identify: an enum value it does not know and a null GoCD serialises are kept
as sent, named as warnings (in the API, the log and /metrics), and routed on
like any other value. The bodies start from what GoCD's own converters
serialised (../shared/fixtures/gocd/gocd-built-bodies.txt)."""
import json
import re
import time

import pytest

from conftest import FIXTURES, SLOW
from targets import Target

BUILT = dict(line.split(": ", 1) for line in
             (FIXTURES / "gocd-built-bodies.txt").read_text().splitlines() if line)
# The build causes of the built stage body, in the file's order.
CAUSE = {t: i for i, t in enumerate(
    ["git", "mercurial", "svn", "tfs", "perforce", "pipeline", "package", "scm"])}
STAGE_STATES = "one of Building, Failing, Passed, Failed, Cancelled, Unknown"
RESULTS = "one of Passed, Failed, Cancelled, Unknown"
JOB_STATES = ("one of Unknown, Scheduled, Assigned, Preparing, Building, Completing, "
              "Completed, Discontinued, Rescheduled, Paused, Waiting")
MATERIALS = "one of git, mercurial, svn, tfs, perforce, pipeline, package, scm"


def built(label):
    return json.loads(BUILT[label])


def material(b, kind):
    return b["pipeline"]["build-cause"][CAUSE[kind]]["material"]


def cause(ev, kind):
    return ev["build_cause"][CAUSE[kind]]


def _gitlab(b):
    b["pipeline"]["build-cause"][CAUSE["git"]]["material"] = {
        "type": "gitlab", "fingerprint": "fp-gl",
        "gitlab-configuration": {"url": "https://gitlab.example/x/y.git", "project": "x/y"}}


def _set(path, value):
    """A change that sets one member, path a list of keys from the root."""
    def change(b):
        at = b
        for k in path[:-1]:
            at = at[k]
        at[path[-1]] = value
    return change


def _in_material(kind, *path, value=None):
    def change(b):
        at = material(b, kind)
        for k in path[:-1]:
            at = at[k]
        at[path[-1]] = value
    return change


def _revision(b):
    b["pipeline"]["build-cause"][CAUSE["package"]]["modifications"][0]["revision"] = None


# Each case: the body's kind, how it changes GoCD's built body, the one
# warning it gives, how to read the value back from the stored event and
# what it must be (as sent), and a route that picks this event alone out
# by that value (a match: and/or a filter:).
CASES = {
    "stage_state_skipped": (
        "stage-status", _set(["pipeline", "stage", "state"], "Skipped"),
        f'pipeline.stage.state: expected {STAGE_STATES}; got "Skipped"',
        lambda e: e["stage"]["state"], "Skipped",
        "match: {state: [Skipped]}"),
    "result_aborted": (
        "stage-status", _set(["pipeline", "stage", "result"], "Aborted"),
        f'pipeline.stage.result: expected {RESULTS}; got "Aborted"',
        lambda e: e["stage"]["result"], "Aborted",
        "match: {result: [Aborted]}"),
    "job_state_queued": (
        "stage-status", lambda b: b["pipeline"]["stage"]["jobs"][1].update(state="Queued"),
        f'pipeline.stage.jobs[1].state: expected {JOB_STATES}; got "Queued"',
        lambda e: e["stage"]["jobs"][1]["state"], "Queued",
        """filter: 'any(.stage.jobs[]; .state == "Queued")'"""),
    "approval_timer": (
        "stage-status", _set(["pipeline", "stage", "approval-type"], "timer"),
        'pipeline.stage.approval-type: expected one of success, manual; got "timer"',
        lambda e: e["stage"]["approval_type"], "timer",
        """filter: '.stage.approval_type == "timer"'"""),
    "material_gitlab": (
        "stage-status", _gitlab,
        f'pipeline.build-cause[0].material.type: expected {MATERIALS}; got "gitlab"',
        lambda e: [cause(e, "git")[k] for k in ("material_type", "material", "config")],
        ["gitlab", "https://gitlab.example/x/y.git",
         {"url": "https://gitlab.example/x/y.git", "project": "x/y"}],
        """filter: 'any(.build_cause[]; .material_type == "gitlab")'"""),
    "agent_sleeping": (
        "agent-status", _set(["agent_state"], "Sleeping"),
        "agent_state: expected one of Idle, Building, LostContact, Missing, Cancelled, "
        'Unknown; got "Sleeping"',
        lambda e: e["agent"]["agent_state"], "Sleeping",
        """filter: '.agent.agent_state == "Sleeping"'"""),
    "agent_config_archived": (
        "agent-status", _set(["agent_config_state"], "Archived"),
        'agent_config_state: expected one of Pending, Enabled, Disabled; got "Archived"',
        lambda e: e["agent"]["config_state"], "Archived",
        """match: {kind: [agent-status]}
    filter: '.agent.config_state == "Archived"'"""),
    "scm_configuration_null": (
        "stage-status", _in_material("scm", "scm-configuration", "token"),
        f"pipeline.build-cause[{CAUSE['scm']}].material.scm-configuration.token: expected a "
        "string; got null",
        lambda e: cause(e, "scm")["config"], {"plugin-id": "github.pr", "scm-configuration": {
            "url": "https://github.com/x/y", "token": None}},
        """filter: 'any(.build_cause[]; .material_type == "scm" and """
        """(.config["scm-configuration"] | has("token") and .token == null))'"""),
    "package_configuration_null": (
        "stage-status", _in_material("package", "package-configuration", "HERALD_PACKAGE"),
        f"pipeline.build-cause[{CAUSE['package']}].material.package-configuration."
        "HERALD_PACKAGE: expected a string; got null",
        lambda e: cause(e, "package")["config"]["package-configuration"],
        {"HERALD_PACKAGE": None},
        """filter: 'any(.build_cause[]; .material_type == "package" and """
        """.config["package-configuration"].HERALD_PACKAGE == null)'"""),
    "plugin_id_null": (
        "stage-status", _in_material("scm", "plugin-id"),
        f"pipeline.build-cause[{CAUSE['scm']}].material.plugin-id: expected a string; got null",
        lambda e: [cause(e, "scm")["material"], cause(e, "scm")["config"]],
        [None, {"plugin-id": None, "scm-configuration": {
            "url": "https://github.com/x/y", "token": "t"}}],
        """filter: 'any(.build_cause[]; .material_type == "scm" and .config["plugin-id"] == null)'"""),
    "scm_url_null": (
        "stage-status", _in_material("git", "git-configuration", "url"),
        f"pipeline.build-cause[{CAUSE['git']}].material.git-configuration.url: expected a "
        "string; got null",
        lambda e: [cause(e, "git")["material"], cause(e, "git")["config"]],
        [None, {"shallow-clone": False, "branch": "main", "url": None}],
        """filter: 'any(.build_cause[]; .material_type == "git" and .material == null)'"""),
    "revision_null": (
        "stage-status", _revision,
        f"pipeline.build-cause[{CAUSE['package']}].modifications[0].revision: expected a "
        "string; got null",
        lambda e: [cause(e, "package")["revision"],
                   cause(e, "package")["modifications"][0]["revision"]],
        [None, None],
        """filter: 'any(.build_cause[]; .modifications[0].revision == null)'"""),
    "approved_by_null": (
        "stage-status", _set(["pipeline", "stage", "approved-by"], None),
        "pipeline.stage.approved-by: expected a string; got null",
        lambda e: e["stage"]["approved_by"], None,
        """match: {kind: [stage-status]}
    filter: '.stage.approved_by == null'"""),
}


def body_of(name):
    kind, change = CASES[name][:2]
    b = built("v4 stage" if kind == "stage-status" else "v4 agent")
    change(b)
    if kind == "stage-status":
        b["pipeline"]["name"] = name  # one pipeline per case, to find its event
    else:
        b["uuid"] = name
    return kind, b


def config(tmp_path, t):
    text = ["delivery:", "  max_attempts: 2", "  backoff_initial: 200ms",
            "  allow: [127.0.0.0/8]", "targets:"]
    text += [f"  - {{name: t_{n}, url: \"{t.url}/{n}\"}}" for n in CASES]
    text += ["routes:"]
    for n, case in CASES.items():
        text += [f"  - name: r_{n}", f"    {case[5]}", f"    targets: [t_{n}]"]
    p = tmp_path / "herald.yaml"
    p.write_text("\n".join(text) + "\n")
    return p


def metric(h, name):
    status, data = h.get("/metrics")
    assert status == 200
    m = re.search(r"^" + re.escape(name) + r" (\d+)$", data.decode(), re.M)
    return int(m.group(1)) if m else 0


def find_event(h, kind, name):
    key = "pipeline" if kind == "stage-status" else None
    if key:
        evs = h.events(pipeline=name)
    else:
        evs = [e for e in h.events(kind="agent-status", limit=500) if e["agent"]["uuid"] == name]
    assert len(evs) == 1, evs
    return evs[0]


@pytest.mark.valgrind
def test_gocd_built_bodies_are_stored_without_warnings(herald):
    for label, version in (("v4 stage", "4.0"), ("v4 stage", "3.0"), ("v1 stage", "1.0"),
                           ("v1 stage", "2.0"), ("v4 agent", "4.0"), ("v4 agent", "3.0")):
        kind = "agent-status" if "agent" in label else "stage-status"
        status, answer = herald.gocd(kind, BUILT[label], version=version)
        assert (status, answer) == (200, {"status": "success"}), (label, version, answer)
    evs = herald.events()
    assert len(evs) == 6
    assert all("warnings" not in e for e in evs), [e.get("warnings") for e in evs]
    assert herald.events(warnings="true") == []
    assert metric(herald, 'herald_ingest_warnings_total{source="gocd"}') == 0


@pytest.mark.valgrind
def test_every_case_is_stored_kept_warned_and_routed(tmp_path, herald_factory):
    """Each case of the issue: accepted (GoCD is answered success), stored,
    its value kept as sent, its warning in the API, the log and /metrics,
    and a route on that value delivers it to a real local target."""
    t = Target().start()
    h = herald_factory(["--config", str(config(tmp_path, t))])
    sent = {}
    for name in CASES:
        kind, body = body_of(name)
        status, answer = h.gocd(kind, body)
        assert (status, answer) == (200, {"status": "success"}), (name, answer)
        sent[name] = kind

    for name, (kind, _, warning, read, value, _) in CASES.items():
        ev = find_event(h, kind, name)
        assert read(ev) == value, name
        assert ev["warnings"] == [warning], name
        # The single event's page says the same, with the raw body as sent.
        status, one = h.get_json(f"/api/v1/events/{ev['id']}")
        assert status == 200
        assert one["event"]["warnings"] == [warning]
        line = f"{kind} event {ev['id']} stored with 1 warning: {json.dumps([warning])}"
        assert line in h.log_text(), (name, line)
    assert sorted(e["id"] for e in h.events(warnings="true", limit=500)) == \
        sorted(e["id"] for e in h.events(limit=500))
    assert metric(h, 'herald_ingest_warnings_total{source="gocd"}') == len(CASES)
    assert metric(h, 'herald_events_total{kind="stage-status",outcome="accepted"}') == \
        sum(1 for k in sent.values() if k == "stage-status")
    assert metric(h, 'herald_events_total{kind="agent-status",outcome="accepted"}') == \
        sum(1 for k in sent.values() if k == "agent-status")

    # Each route picked exactly its own case's event, and the target got it.
    reqs = t.wait(len(CASES), timeout=20 * SLOW)
    time.sleep(0.5)
    assert sorted(r["path"] for r in t.requests) == sorted("/" + n for n in CASES)
    for r in t.requests:
        name = r["path"][1:]
        got = json.loads(r["body"])
        ev = find_event(h, CASES[name][0], name)
        assert got["id"] == ev["id"], name
        assert CASES[name][3](got) == CASES[name][4], name
    t.stop()


def test_a_warning_is_logged_on_one_line_with_values_escaped(herald):
    b = built("v4 stage")
    b["pipeline"]["stage"]["state"] = "Sk\u0007ip\nped\u202e"
    status, answer = herald.gocd("stage-status", b)
    assert (status, answer) == (200, {"status": "success"})
    ev = herald.events()[0]
    assert ev["stage"]["state"] == "Sk\u0007ip\nped\u202e"
    lines = [ln for ln in herald.log_text().splitlines() if "stored with 1 warning" in ln]
    assert len(lines) == 1, herald.log_text()
    assert " WARN " in lines[0]
    # The line is plain ASCII: the warnings as JSON, every byte escaped.
    assert lines[0].isascii() and "\x07" not in lines[0], lines[0]
    assert json.loads(lines[0].split(" stored with 1 warning: ", 1)[1]) == ev["warnings"]
    assert ev["warnings"] == [f'pipeline.stage.state: expected {STAGE_STATES}; got '
                              '"Sk\\u0007ip\\nped\u202e"']


@pytest.mark.parametrize("kind,body,message", [
    ("stage-status", {"pipeline": {"stage": {"name": "s"}}},
     "pipeline.name: expected a string; got nothing"),
    ("stage-status", {"pipeline": {"name": "p", "stage": {"name": ""}}},
     'pipeline.stage.name: expected a non-empty string; got ""'),
    ("stage-status", {"pipeline": {"name": "p"}},
     "pipeline.stage: expected an object; got nothing"),
    ("agent-status", {"agent_state": "Idle"}, "uuid: expected a string; got nothing"),
])
def test_what_identifies_an_event_is_still_required(herald, kind, body, message):
    status, answer = herald.gocd(kind, body)
    assert (status, answer) == (200, {"status": "failure", "messages": [message]})
    assert herald.events() == []
    assert metric(herald, f'herald_events_total{{kind="{kind}",outcome="rejected"}}') == 1


def test_the_warnings_filter_takes_only_true(herald):
    status, answer = herald.get_json("/api/v1/events?warnings=yes")
    assert status == 400
    assert "warnings" in answer["error"], answer
