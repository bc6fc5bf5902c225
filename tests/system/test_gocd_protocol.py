"""Every request of GoCD's notification extension, every version, answered
the way a real GoCD server expects (shared/PROTOCOL-NOTES.md)."""
import json

import pytest

VERSIONS = ["1.0", "2.0", "3.0", "4.0"]


@pytest.mark.valgrind
@pytest.mark.parametrize("version", VERSIONS)
def test_notifications_interested_in(herald, version):
    status, answer = herald.gocd("notifications-interested-in", version=version)
    assert status == 200
    want = ["stage-status"] if version in ("1.0", "2.0") else ["stage-status", "agent-status"]
    assert answer == {"notifications": want}


def test_version_defaults_to_the_highest(herald):
    status, answer = herald.gocd("notifications-interested-in", version=None)
    assert (status, answer) == (200, {"notifications": ["stage-status", "agent-status"]})


def test_unknown_version_is_refused(herald):
    status, answer = herald.gocd("notifications-interested-in", version="5.0")
    assert status == 400
    assert answer == {"status": "failure", "messages": [
        'X-Go-Extension-Version: expected one of 1.0, 2.0, 3.0, 4.0; got "5.0"']}


def test_unknown_request_is_404_json(herald):
    status, answer = herald.gocd("go.plugin-settings.get-icon")
    assert status == 404
    assert answer == {"error": "unknown request name for the notification extension: "
                               "go.plugin-settings.get-icon"}


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_agent_status_needs_version_3(herald, version):
    status, answer = herald.gocd("agent-status", {"uuid": "x"}, version=version)
    assert status == 404
    assert "needs 3.0 or later" in answer["error"]


@pytest.mark.valgrind
@pytest.mark.parametrize("version", VERSIONS)
def test_get_configuration(herald, version):
    status, conf = herald.gocd("go.plugin-settings.get-configuration", version=version)
    assert status == 200 and conf
    for key, field in conf.items():
        assert set(field) >= {"default-value", "secure", "required", "display-name",
                              "display-order"}, key
        assert isinstance(field["display-order"], str)
        assert isinstance(field["secure"], bool) and isinstance(field["required"], bool)
    assert conf["webhook_url"]["required"] is True
    assert conf["webhook_headers"]["secure"] is True


@pytest.mark.parametrize("version", VERSIONS)
def test_get_view_is_a_form_for_every_setting(herald, version):
    status, conf = herald.gocd("go.plugin-settings.get-configuration", version=version)
    status, view = herald.gocd("go.plugin-settings.get-view", version=version)
    assert status == 200
    template = view["template"]
    for key in conf:
        assert f'ng-model="{key}"' in template, key
        assert f"GOINPUTNAME[{key}].$error.server" in template, key


GOCD_TOKEN = "gocd-tok-3f9a61c0b2"


@pytest.fixture
def with_token(herald_factory, tmp_path):
    """A herald with a GoCD token, as docs/gocd.md sets it up, whose gocd()
    requests carry the token as the bridge does."""
    path = tmp_path / "gocd-token"
    path.write_text(GOCD_TOKEN + "\n")
    h = herald_factory(["--gocd-token-file", str(path)])
    h.gocd_headers = {"Authorization": f"Bearer {GOCD_TOKEN}"}
    return h


def validate(herald, settings, version="4.0"):
    body = {"plugin-settings": {k: {"value": v} for k, v in settings.items()}}
    status, answer = herald.gocd("go.plugin-settings.validate-configuration", body, version)
    assert status == 200, answer
    return {e["key"]: e["message"] for e in answer}


def test_validate_configuration_accepts_good_settings(with_token):
    assert validate(with_token, {
        "webhook_url": "https://hooks.example.com/ci?x=1", "webhook_method": "PUT",
        "webhook_headers": "Authorization: Bearer abc\nX-Team: build",
        "notify_on": "broken, fixed"}) == {}


def test_validate_configuration_names_each_bad_key(herald):
    errors = validate(herald, {
        "webhook_url": "ftp://example.com", "webhook_method": "PATCH",
        "webhook_headers": "Good: yes\nno colon here", "notify_on": "fixed,exploded"})
    assert set(errors) == {"webhook_url", "webhook_method", "webhook_headers", "notify_on"}
    assert "http" in errors["webhook_url"]
    assert "PATCH" in errors["webhook_method"] or "GET" in errors["webhook_method"]
    assert "line 2" in errors["webhook_headers"]
    assert "exploded" in errors["notify_on"]


def test_validate_configuration_requires_the_url(herald):
    errors = validate(herald, {"webhook_method": "POST"})
    assert "webhook_url" in errors


def test_validate_configuration_with_a_bad_body_names_the_path(herald):
    status, answer = herald.gocd("go.plugin-settings.validate-configuration",
                                 {"plugin-settings": {"webhook_url": "x"}})
    assert status == 400
    assert answer["status"] == "failure"
    assert any(m.startswith("plugin-settings.webhook_url") for m in answer["messages"]), answer


@pytest.mark.valgrind
def test_settings_changed_are_stored_and_secrets_masked(with_token):
    h = with_token
    settings = {"webhook_url": "https://example.com/hook", "webhook_method": "POST",
                "webhook_headers": "Authorization: Bearer s3cr3t-token", "unknown_key": "x"}
    status, answer = h.gocd("go.plugin-settings.plugin-settings-changed", settings, "4.0")
    assert (status, answer) == (200, {"status": "success"})
    status, data = h.get_json("/api/v1/settings")
    assert status == 200
    assert data["settings"]["webhook_url"] == "https://example.com/hook"
    assert data["settings"]["webhook_headers"] == "******"
    assert "unknown_key" not in data["settings"]
    assert "s3cr3t-token" not in json.dumps(data)
    # durable: still there after a restart, and the secret never reached the log
    h.stop()
    h.start()
    status, data = h.get_json("/api/v1/settings")
    assert data["settings"]["webhook_method"] == "POST"
    assert "s3cr3t-token" not in h.log_text()


GOOD = {"webhook_url": "https://example.com/hook", "webhook_method": "POST",
        "webhook_body": "{text: .pipeline.name}"}


def test_without_a_gocd_token_settings_changes_are_refused(herald):
    """GoCD's settings define a target and its templates: a herald without
    the GoCD token refuses to change them, says so on GoCD's settings page
    (validation), and answers a direct change with GoCD's failure shape."""
    errors = validate(herald, GOOD)
    assert list(errors) == ["webhook_url"], errors
    assert "no GoCD token" in errors["webhook_url"]
    assert "--gocd-token-file" in errors["webhook_url"]
    assert "--insecure-local" in errors["webhook_url"]
    # Bad values are named first, as they would be with a token.
    bad = validate(herald, {**GOOD, "webhook_url": "ftp://x"})["webhook_url"]
    assert "http" in bad and "GoCD token" not in bad, bad
    status, answer = herald.gocd("go.plugin-settings.plugin-settings-changed", GOOD)
    assert status == 200 and answer["status"] == "failure", answer
    assert "no GoCD token" in answer["messages"][0]
    assert herald.get_json("/api/v1/settings")[1]["settings"] == {}
    assert "plugin settings change refused" in herald.log_text()
    # Notifications stay open: the bridge without a token keeps working.
    status, answer = herald.gocd("notifications-interested-in")
    assert status == 200


def test_insecure_local_takes_settings_changes_without_a_token(herald_factory):
    h = herald_factory(["--insecure-local"])
    assert validate(h, GOOD) == {}
    status, answer = h.gocd("go.plugin-settings.plugin-settings-changed", GOOD)
    assert (status, answer) == (200, {"status": "success"})
    assert h.get_json("/api/v1/settings")[1]["settings"]["webhook_url"] == GOOD["webhook_url"]


def test_settings_changes_need_the_token_itself(with_token):
    with_token.gocd_headers = {"Authorization": "Bearer wrong"}
    status, _ = with_token.gocd("go.plugin-settings.plugin-settings-changed", GOOD)
    assert status == 401
    with_token.gocd_headers = {}
    status, _ = with_token.gocd("go.plugin-settings.validate-configuration",
                                {"plugin-settings": {}})
    assert status == 401


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_settings_changed_needs_version_3(herald, version):
    status, _ = herald.gocd("go.plugin-settings.plugin-settings-changed", {}, version)
    assert status == 404


def test_only_post_is_allowed(herald):
    status, _ = herald.request("GET", "/gocd/notification/stage-status")
    assert status == 405


def test_gocd_token_is_demanded_when_configured(tmp_path, herald_factory):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-bridge-token\n")
    h = herald_factory(["--gocd-token-file", str(token_file)])
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eA=="}):
        status, data = h.request("POST", "/gocd/notification/notifications-interested-in",
                                 headers=headers)
        assert status == 401, (headers, data)
        assert b"s3cret" not in data
    status, _ = h.request("GET", "/gocd/health-messages")
    assert status == 401
    good = {"Authorization": "Bearer s3cret-bridge-token", "X-Go-Extension-Version": "4.0"}
    status, data = h.request("POST", "/gocd/notification/notifications-interested-in",
                             headers=good)
    assert status == 200, data
    status, data = h.request("GET", "/gocd/health-messages", headers=good)
    assert (status, json.loads(data)) == (200, [])
    # the rest of the API is not behind the GoCD token
    assert h.get("/healthz")[0] == 200
    assert "s3cret-bridge-token" not in h.log_text()


def test_gocd_token_from_the_environment(tmp_path, herald_factory, monkeypatch):
    monkeypatch.setenv("HERALD_GOCD_TOKEN", "env-token")
    h = herald_factory()
    assert h.request("POST", "/gocd/notification/notifications-interested-in")[0] == 401
    status, _ = h.request("POST", "/gocd/notification/notifications-interested-in",
                          headers={"Authorization": "Bearer env-token"})
    assert status == 200


def test_server_info_is_kept(herald):
    info = {"server_id": "df0cb9be-2696-4689-8d46-1ef3c4e4447c",
            "site_url": "http://gocd.example.com:8153", "secure_site_url": None}
    status, answer = herald.request("POST", "/gocd/server-info", info)
    assert (status, json.loads(answer)) == (200, {"status": "success"})
    status, data = herald.get_json("/api/v1/gocd/server-info")
    assert status == 200 and data["server_info"] == info
    status, answer = herald.request("POST", "/gocd/server-info", b"[1]")
    assert status == 400


def _stage_body():
    path = __import__("pathlib").Path(__file__).parent.parent / "payloads" / "gocd"
    return (path / "stage-status_v4_completed_failed.json").read_text()


def _post_with_id(herald, body, request_id):
    headers = {"Content-Type": "application/json", "X-Go-Extension-Version": "4.0",
               "X-Herald-Request-Id": request_id}
    status, data = herald.request("POST", "/gocd/notification/stage-status", body, headers)
    return status, json.loads(data)


@pytest.mark.valgrind
def test_a_repeated_request_id_is_stored_once(herald):
    # The bridge sends X-Herald-Request-Id, and the same id again when it
    # replays a notification whose answer it lost: herald keeps one event.
    body = _stage_body()
    rid = "0b5e8f4c-6f0e-4a53-9a3e-0d4f3f1d2c11"
    assert _post_with_id(herald, body, rid) == (200, {"status": "success"})
    assert _post_with_id(herald, body, rid) == (200, {"status": "success"})
    assert len(herald.events()) == 1
    assert "stage-status request " + rid + " was stored before as event 1" in herald.log_text()
    # Another id is another event (a GoCD retry of its own is a new request).
    assert _post_with_id(herald, body, "another-request")[0] == 200
    assert len(herald.events()) == 2


def test_a_bad_request_id_is_refused(herald):
    status, answer = _post_with_id(herald, _stage_body(), "not a valid id!")
    assert (status, answer) == (200, {"status": "failure", "messages": [
        'X-Herald-Request-Id: expected 1 to 128 letters, digits, "-", "_", "." or ":", '
        "such as a UUID"]})
    assert herald.events() == []
