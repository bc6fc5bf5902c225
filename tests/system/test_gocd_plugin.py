"""The GoCD plugin jar, loaded the way GoCD's plugin loader loads it (the
loader harness in gocd-plugin/), answering every notification and
package-repository request through the real herald daemon."""
import json
import re
import subprocess

import pytest

from conftest import FIXTURES, PAYLOADS, ROOT
from targets import free_port

JAR = ROOT / "gocd-plugin" / "build" / "herald-gocd-plugin.jar"
HARNESS = ROOT / "gocd-plugin" / "harness.sh"
pytestmark = pytest.mark.skipif(not JAR.exists(),
                                reason="the jar is not built (gocd-plugin/build.sh)")


def harness(h, payloads, token, *extra):
    r = subprocess.run([str(HARNESS), str(payloads), f"http://127.0.0.1:{h.port}", "--token",
                        token, *extra], capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("payloads", [PAYLOADS, FIXTURES], ids=["own", "gocd-fixtures"])
def test_jar_answers_every_request_through_herald(tmp_path, herald_factory, payloads):
    if not payloads.is_dir():
        pytest.skip(f"{payloads} is not there")
    (tmp_path / "token").write_text("bridge-token-1")
    h = herald_factory(["--gocd-token-file", str(tmp_path / "token")])
    rc, out = harness(h, payloads, "bridge-token-1")
    assert rc == 0, out[-3000:]
    last = out.strip().splitlines()[-1]
    assert last.endswith(" passed, 0 failed"), last
    # GoCD's loader registers an @Extension class only under an interface marked
    # @GoPluginApiMarker from its own loader; the harness checks it as GoCD does
    for cls in ("HeraldPlugin", "HeraldPackagePlugin"):
        assert re.search(rf"^ok - {cls} is registered under GoCD's extension point GoPlugin ", out, re.M), out[:3000]
    # every stage-status and agent-status the bridge accepted is stored, once,
    # with its version; our own payloads arrive byte for byte
    sent = re.findall(r'^ok - (stage-status|agent-status) (\d\.0) (\S+): 200 \{"status":"success"\}$',
                      out, re.M)
    assert sent, out[-2000:]
    events = sorted(h.all_events(), key=lambda e: e["id"])
    assert sorted((k, v) for k, v, _ in sent) == sorted((e["kind"], e["version"]) for e in events)
    if payloads == PAYLOADS:
        raws = sorted(h.get_json(f"/api/v1/events/{e['id']}")[1]["raw"] for e in events)
        assert raws == sorted((PAYLOADS / f).read_text() for _, _, f in sent)


def test_jar_with_the_wrong_token_is_refused(tmp_path, herald_factory):
    (tmp_path / "token").write_text("bridge-token-1")
    h = herald_factory(["--gocd-token-file", str(tmp_path / "token")])
    rc, out = harness(h, PAYLOADS, "wrong-token")
    assert rc == 1, out[-2000:]
    assert h.all_events() == []


def test_outage_spools_and_replays_in_order(tmp_path, herald_factory):
    """herald killed; 100 stage-status handed to the bridge, all answered
    success and spooled; herald restarted; all 100 arrive in order, each
    stored once; the bridge's health message appears, then clears."""
    (tmp_path / "token").write_text("bridge-token-2")
    # herald comes back on the same port: one outside the kernel's
    # ephemeral range, which no outbound connection (the bridge retrying
    # the dead port among them) can be holding then.
    port = free_port()
    h = herald_factory(["--gocd-token-file", str(tmp_path / "token")], start=False)
    h.start(port=port)
    body = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())
    body["pipeline"]["name"] = "outage"
    body["pipeline"]["counter"] = "__COUNTER__"
    template = tmp_path / "template.json"
    template.write_text(json.dumps(body))
    h.kill9()
    classes = ROOT / "gocd-plugin" / "build" / "classes"
    p = subprocess.Popen(["java", "-cp", f"{classes / 'stubs'}:{classes / 'harness'}",
                          "herald.gocd.harness.OutageHarness", str(JAR),
                          f"http://127.0.0.1:{port}", "bridge-token-2", "100", str(template)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    out = []
    for line in p.stdout:
        out.append(line)
        if line.startswith("SPOOLED"):
            break
    else:
        p.wait(10)
        raise AssertionError("".join(out))
    h.start(port=port)
    p.stdin.write("UP\n")
    p.stdin.flush()
    rest, _ = p.communicate(timeout=120)
    out.append(rest)
    text = "".join(out)
    assert p.returncode == 0, text
    assert "0 failed" in text.strip().splitlines()[-1], text
    events = sorted(h.all_events(), key=lambda e: e["id"])
    counters = [e["pipeline"]["counter"] for e in events if e["pipeline"]["name"] == "outage"]
    assert counters == [str(i) for i in range(1, 101)], counters[:10]


def test_jar_drives_package_repository_through_herald(tmp_path, herald_factory):
    """The jar's two extensions load side by side. Revisions published to
    herald with plain HTTP come back through the package-repository
    extension as GoCD's material poller asks for them (latest-revision, then
    latest-revision-since); validation names a bad key; check-connection of
    an unknown repository fails; a second instance pointed at a dead port
    answers GoCD with herald's URL and the cause, and spools nothing."""
    (tmp_path / "token").write_text("bridge-token-3")
    # The harness publishes with the token it is given; publishing a package
    # without its own publish token needs herald's API token, so here both
    # tokens are the one file.
    h = herald_factory(["--gocd-token-file", str(tmp_path / "token"),
                        "--api-token-file", str(tmp_path / "token")])
    rc, out = harness(h, PAYLOADS, "bridge-token-3", "--packages")
    assert rc == 0, out[-4000:]
    # (the plugin's log lines, on stderr, come after the summary)
    summary = re.findall(r"^\d+ passed, \d+ failed$", out, re.M)
    assert summary and summary[-1].endswith(" passed, 0 failed"), out[-4000:]
    for check in [r"two classes are annotated @Extension",
                  r"the extensions are notification and package-repository",
                  r"repository-configuration is herald's own answer",
                  r"package-configuration is herald's own answer",
                  r"revision 1\.0 published to herald: 201",
                  r"latest-revision \S+ is the published 1\.0 with its data",
                  r"latest-revision-since 1\.0 is the published 1\.1",
                  r"latest-revision-since 1\.1 is nothing new",
                  r"validate-repository-configuration with the key NOPE names the key",
                  r"check-repository-connection of the unknown repository \S+ fails",
                  r"herald down: latest-revision throws, and GoCD shows \"herald at http://127\.0\.0\.1:\d+ is unreachable",
                  r"herald down: no package request was spooled"]:
        assert re.search(r"^ok - " + check, out, re.M), (check, out[-4000:])

    # What the jar gave GoCD is what herald itself answers: ask herald directly
    # for the harness's package, with the bridge's token.
    m = re.search(r"^# package-repository: repository (\S+), package (\S+)$", out, re.M)
    repo, pkg = m.group(1), m.group(2)
    body = {"repository-configuration": {"HERALD_REPOSITORY": {"value": repo}},
            "package-configuration": {"HERALD_PACKAGE": {"value": pkg}}}
    status, data = h.request("POST", "/gocd/package-repository/latest-revision", body,
                             {"Authorization": "Bearer bridge-token-3",
                              "Content-Type": "application/json"})
    assert status == 200, data
    answer = json.loads(data)
    assert answer["revision"] == "1.1"
    assert answer["data"] == {"K": "w"}
    shown = re.search(r"^# latest-revision answer: (.*)$", out, re.M).group(1)
    assert json.loads(shown) == answer
    # without the token herald refuses, as on /gocd/notification/
    status, _ = h.request("POST", "/gocd/package-repository/latest-revision", body,
                          {"Content-Type": "application/json"})
    assert status == 401
