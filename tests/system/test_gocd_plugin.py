"""The GoCD plugin jar, loaded the way GoCD's plugin loader loads it (the
loader harness in gocd-plugin/), answering every notification request
through the real herald daemon."""
import subprocess

import pytest

from conftest import FIXTURES, PAYLOADS, ROOT

JAR = ROOT / "gocd-plugin" / "build" / "herald-gocd-plugin.jar"
HARNESS = ROOT / "gocd-plugin" / "harness.sh"
pytestmark = pytest.mark.skipif(not JAR.exists(),
                                reason="the jar is not built (gocd-plugin/build.sh)")


def harness(h, payloads, token):
    r = subprocess.run([str(HARNESS), str(payloads), f"http://127.0.0.1:{h.port}", "--token",
                        token], capture_output=True, text=True, timeout=300)
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
    # every stage-status and agent-status the harness sent is stored
    kinds = {e["kind"] for e in h.all_events()}
    assert kinds == {"stage-status", "agent-status"}


def test_jar_with_the_wrong_token_is_refused(tmp_path, herald_factory):
    (tmp_path / "token").write_text("bridge-token-1")
    h = herald_factory(["--gocd-token-file", str(tmp_path / "token")])
    rc, out = harness(h, PAYLOADS, "wrong-token")
    assert rc == 1, out[-2000:]
    assert h.all_events() == []
