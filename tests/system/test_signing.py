"""Secret rotation, checked by a library herald's authors did not write:
the Standard Webhooks reference library for TypeScript (npm's
standardwebhooks, pinned in tests/webhooks/package-lock.json and installed
with `npm ci` by tests/webhooks/install.sh) verifies a real delivery that
the daemon signed with two secrets, with each secret alone."""
import base64
import json
import subprocess

import pytest

from conftest import ROOT
from targets import Target
from test_delivery import config, event, send, wait_state

WEBHOOKS = ROOT / "tests" / "webhooks"
OLD = "whsec_" + base64.b64encode(b"the-old-secret-being-retired-now").decode()
NEW = "whsec_" + base64.b64encode(b"the-new-secret-taking-over-today").decode()
OTHER = "whsec_" + base64.b64encode(b"a-secret-herald-never-signs-with").decode()


@pytest.fixture(scope="module")
def verifier():
    subprocess.run([str(WEBHOOKS / "install.sh")], check=True, timeout=600)

    def verify(secret, req):
        headers = {k: v for k, v in req["headers"].items() if k.startswith("webhook-")}
        r = subprocess.run(["node", str(WEBHOOKS / "verify.mjs")], cwd=WEBHOOKS,
                           input=json.dumps({"secret": secret, "headers": headers,
                                             "body": base64.b64encode(req["body"]).decode()}),
                           capture_output=True, text=True, timeout=60)
        return r.stdout.strip() + r.stderr.strip()
    return verify


def test_both_signatures_of_a_rotation_verify(tmp_path, herald_factory, verifier):
    t = Target().start()
    cfg = config(tmp_path, f"""
targets:
  - name: hook
    url: {t.url}/hook
    signing_secret: [{OLD}, {NEW}]
routes: [{{name: all, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    send(h, event())
    req = t.wait(1)[0]
    sigs = req["headers"]["webhook-signature"].split(" ")
    print(f"\nwebhook-signature: {len(sigs)} signatures")
    assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs)
    assert verifier(OLD, req) == "verified"
    assert verifier(NEW, req) == "verified"
    # The library does refuse: a secret herald did not sign with, or a
    # body changed on the way.
    assert verifier(OTHER, req).startswith("not verified")
    tampered = dict(req, body=req["body"].replace(b"app", b"ppa"))
    assert verifier(NEW, tampered).startswith("not verified")
    wait_state(h, "delivered", 1)
    status, cfg_json = h.get_json("/api/v1/config")
    assert cfg_json["targets"][0]["signing_secret"] == ["******", "******"]
    assert OLD not in h.log_text() + json.dumps(cfg_json)
    assert NEW not in h.log_text() + json.dumps(cfg_json)
    t.stop()
