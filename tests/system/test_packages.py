"""Package revisions against the real daemon: publishing
(POST /api/v1/packages/<repository>/<package>/revisions), listing, the event
each revision becomes, and GoCD polling them through the package-repository
extension (POST /gocd/package-repository/<request-name>), as a GoCD server
reads the answers (shared/PROTOCOL-NOTES.md, "Package-repository extension").

These tests are about publishing and polling, not access: herald runs with
--insecure-local, so a revision needs no token (test_api_token.py and
test_notify.py publish in the default setup, with the API token).
"""
import json
import re

import pytest

from conftest import FIXTURES, ROOT

PAYLOADS = ROOT / "tests" / "payloads" / "package"
JSON = {"Content-Type": "application/json"}

NAME_RULE = "expected 1 to 128 of A-Z a-z 0-9 _ . -"
KEY_RULE = "expected a key of A-Z a-z 0-9 _ (GoCD refuses others)"
TIME_RULE = ("expected yyyy-MM-ddTHH:mm:ss.SSSZ from 1970 to 9999, such as "
             "2011-07-14T19:43:37.100Z or 2011-07-14T21:43:37.100+0200 or null")
MEMBERS = "revision, timestamp, user, revisionComment, trackbackUrl and data"
GOCD_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# ---- helpers ---------------------------------------------------------------

@pytest.fixture
def herald_factory(herald_factory):
    def make(args=(), **kw):
        return herald_factory(["--insecure-local", *args], **kw)
    return make


@pytest.fixture
def herald(herald_factory):
    return herald_factory()


def publish(h, repo, pkg, body, headers=None):
    """POSTs a revision; returns (status, parsed answer)."""
    status, data = h.request("POST", f"/api/v1/packages/{repo}/{pkg}/revisions", body,
                             headers or JSON)
    return status, json.loads(data) if data else None


def pkgrepo(h, name, body=None):
    """One package-repository extension request; returns (status, content type,
    raw body)."""
    c = h.conn()
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    c.request("POST", f"/gocd/package-repository/{name}",
              body=body.encode() if isinstance(body, str) else body,
              headers={"Content-Type": "application/json", "X-Go-Extension-Version": "1.0"})
    r = c.getresponse()
    data = r.read()
    ctype = r.getheader("Content-Type", "")
    c.close()
    return r.status, ctype, data


def pkgrepo_json(h, name, body=None):
    status, ctype, data = pkgrepo(h, name, body)
    assert ctype.startswith("application/json"), (status, ctype, data)
    return status, json.loads(data)


def config(repo, pkg=None, prev=None):
    """A request body the way GoCD builds it for herald's keys."""
    body = {"repository-configuration": {"HERALD_REPOSITORY": {"value": repo}}}
    if pkg is not None:
        body["package-configuration"] = {"HERALD_PACKAGE": {"value": pkg}}
    if prev is not None:
        body["previous-revision"] = prev
    return body


def no_revision(repo, pkg):
    return (f"herald has no revision of package {repo}/{pkg} yet: publish one with POST "
            f"/api/v1/packages/{repo}/{pkg}/revisions")


def as_gocd_reads(stored):
    """The latest-revision answer GoCD expects for a stored revision: its
    members only, unset strings left out."""
    keys = ("revision", "timestamp", "user", "revisionComment", "trackbackUrl", "data")
    return {k: stored[k] for k in keys if stored.get(k) is not None}


def revision(n, **extra):
    body = {"revision": f"1.0.{n}", "timestamp": f"2026-01-0{n}T08:00:00.00{n}Z",
            "user": "release-bot", "revisionComment": f"build {n}",
            "trackbackUrl": f"https://ci.example.com/app/{n}",
            "data": {"VERSION": f"1.0.{n}", "BUILD_NUMBER": str(n)}}
    body.update(extra)
    return body


def package_events(h):
    return [e for e in h.events(source="package", limit=500)]


# ---- the extension's configuration and validation -------------------------

@pytest.mark.valgrind
def test_configurations(herald):
    assert pkgrepo_json(herald, "repository-configuration") == (200, {
        "HERALD_REPOSITORY": {"default-value": "", "part-of-identity": True, "secure": False,
                              "required": True, "display-name": "Repository name in herald",
                              "display-order": "0"}})
    assert pkgrepo_json(herald, "package-configuration") == (200, {
        "HERALD_PACKAGE": {"default-value": "", "part-of-identity": True, "secure": False,
                           "required": True, "display-name": "Package name in herald",
                           "display-order": "0"}})


def test_configuration_has_gocds_property_members(herald):
    """Each property has the members, of the types, that GoCD's own test gives."""
    full = json.loads((FIXTURES / "package_repository-configuration_response.json")
                      .read_text())["key-two"]
    for name, key in (("repository-configuration", "HERALD_REPOSITORY"),
                      ("package-configuration", "HERALD_PACKAGE")):
        _, answer = pkgrepo_json(herald, name)
        prop = answer[key]
        assert set(prop) == set(full)
        assert all(type(prop[k]) is type(full[k]) for k in full)


def test_validate_gocds_own_request(herald):
    """GoCD's test request has none of herald's keys: each problem is named."""
    body = (FIXTURES / "package_latest-revision_request.json").read_text()
    unused = "herald does not use this key (the {} configuration has only {})"
    assert pkgrepo_json(herald, "validate-repository-configuration", body) == (200, [
        {"key": "HERALD_REPOSITORY", "message": "HERALD_REPOSITORY is required: the repository "
         "name used in POST /api/v1/packages/<repository>/<package>/revisions"},
        {"key": "key-one", "message": unused.format("repository", "HERALD_REPOSITORY")},
        {"key": "key-two", "message": unused.format("repository", "HERALD_REPOSITORY")}])
    assert pkgrepo_json(herald, "validate-package-configuration", body) == (200, [
        {"key": "HERALD_PACKAGE", "message": "HERALD_PACKAGE is required: the package name "
         "used in POST /api/v1/packages/<repository>/<package>/revisions"},
        {"key": "key-three", "message": unused.format("package", "HERALD_PACKAGE")},
        {"key": "key-four", "message": unused.format("package", "HERALD_PACKAGE")}])


@pytest.mark.parametrize("value, message", [
    ("ci", None),
    ("", "HERALD_REPOSITORY must not be empty"),
    (None, "HERALD_REPOSITORY must not be empty"),
    ("my repo", NAME_RULE + '; got "my repo"'),
    ("..", 'expected a name other than "." and ".."; got ".."'),
])
def test_validate_repository_values(herald, value, message):
    entry = None if value is None else {"value": value}
    body = {"repository-configuration": {"HERALD_REPOSITORY": entry}}
    want = [] if message is None else [{"key": "HERALD_REPOSITORY", "message": message}]
    assert pkgrepo_json(herald, "validate-repository-configuration", body) == (200, want)


def test_validate_package_values(herald):
    body = config("ci", "app")
    assert pkgrepo_json(herald, "validate-package-configuration", body) == (200, [])
    body = config("ci", "a/b")
    assert pkgrepo_json(herald, "validate-package-configuration", body) == (200, [
        {"key": "HERALD_PACKAGE", "message": NAME_RULE + '; got "a/b"'}])


# ---- the extension before anything is published ----------------------------

@pytest.mark.valgrind
def test_nothing_published_yet(herald):
    # Unknown repository: check-repository-connection says so and how to fix it.
    assert pkgrepo_json(herald, "check-repository-connection", config("ci")) == (200, {
        "status": "failure", "messages": [
            'herald has no package in repository "ci" yet: publish a revision with POST '
            "/api/v1/packages/ci/<package>/revisions"]})
    assert pkgrepo_json(herald, "check-package-connection", config("ci", "app")) == (200, {
        "status": "failure", "messages": [no_revision("ci", "app")]})
    # No revision yet: a non-200 status, so GoCD shows the sentence itself
    # (with {} it would show only "Empty response body").
    for name, prev in (("latest-revision", None),
                       ("latest-revision-since", {"revision": "1.0.0",
                                                  "timestamp": "2026-01-01T00:00:00.000Z",
                                                  "data": {}})):
        status, ctype, data = pkgrepo(herald, name, config("ci", "app", prev))
        assert (status, data.decode()) == (404, no_revision("ci", "app"))
        assert ctype.startswith("text/plain")


def test_unknown_request_name(herald):
    status, ctype, data = pkgrepo(herald, "latest-revisions", config("ci", "app"))
    assert status == 404
    assert json.loads(data) == {
        "error": "unknown request name for the package-repository extension: latest-revisions"}


def test_malformed_gocd_requests(herald):
    """Each refusal in the form GoCD shows its operator for that request."""
    missing = config("ci")  # no package configuration
    status, ctype, data = pkgrepo(herald, "latest-revision", missing)
    assert (status, data.decode()) == (400, "herald cannot answer latest-revision: "
                                            "package-configuration.HERALD_PACKAGE: "
                                            + NAME_RULE + "; got nothing")
    assert ctype.startswith("text/plain")
    status, ctype, data = pkgrepo(herald, "latest-revision-since", config("ci", "app"))
    assert (status, data.decode()) == (400, "herald cannot answer latest-revision-since: "
                                            "previous-revision: expected an object; got nothing")
    assert pkgrepo_json(herald, "check-package-connection", "[]") == (200, {
        "status": "failure", "messages": ["body: expected an object; got an array"]})
    assert pkgrepo_json(herald, "check-repository-connection", config("a b")) == (200, {
        "status": "failure", "messages": [
            "repository-configuration.HERALD_REPOSITORY: " + NAME_RULE + '; got "a b"']})
    assert pkgrepo_json(herald, "validate-repository-configuration",
                        {"repository-configuration": 5}) == (200, [
        {"message": "repository-configuration: expected an object; got 5"}])
    status, ctype, data = pkgrepo(herald, "latest-revision", "{")
    assert status == 400
    assert data.decode().startswith("herald cannot answer latest-revision: invalid JSON at line 1")


# ---- publishing: the whole flow --------------------------------------------

@pytest.mark.valgrind
def test_publish_poll_republish_and_kill9(herald_factory):
    h = herald_factory()
    stored = []
    for n in (1, 2, 3):
        status, answer = publish(h, "ci", "app", revision(n))
        assert status == 201, answer
        body = revision(n)
        assert answer["repository"] == "ci" and answer["package"] == "app"
        assert {k: answer[k] for k in body} == body
        assert GOCD_TIME.match(answer["published_at"]), answer
        assert isinstance(answer["event_id"], int)
        assert set(answer) == set(body) | {"repository", "package", "published_at", "event_id"}
        stored.append(answer)

    # latest-revision: the third, in GoCD's exact shape.
    status, ctype, data = pkgrepo(h, "latest-revision", config("ci", "app"))
    assert status == 200 and ctype.startswith("application/json")
    assert json.loads(data) == as_gocd_reads(stored[2]) == revision(3)
    # Since the first (as GoCD sends it: revision, timestamp, data): the third.
    prev = {k: revision(1)[k] for k in ("revision", "timestamp", "data")}
    assert pkgrepo_json(h, "latest-revision-since", config("ci", "app", prev)) == (
        200, revision(3))
    # Since the third: nothing new, which GoCD reads from {}.
    prev = {k: revision(3)[k] for k in ("revision", "timestamp", "data")}
    assert pkgrepo_json(h, "latest-revision-since", config("ci", "app", prev)) == (200, {})

    assert pkgrepo_json(h, "check-package-connection", config("ci", "app")) == (200, {
        "status": "success", "messages": [
            'herald has package ci/app with 3 revisions; latest revision "1.0.3" of '
            '2026-01-03T08:00:00.003Z']})
    assert pkgrepo_json(h, "check-repository-connection", config("ci")) == (200, {
        "status": "success", "messages": ['herald has 1 package in repository "ci"']})

    # A byte-identical re-publish is accepted once: 200, the stored one, no event.
    events_before = package_events(h)
    assert len(events_before) == 3
    raw = json.dumps(revision(2))
    assert publish(h, "ci", "app", raw) == (200, stored[1])
    assert publish(h, "ci", "app", raw) == (200, stored[1])
    assert len(package_events(h)) == 3
    # The same revision with other content is a conflict.
    status, answer = publish(h, "ci", "app", revision(2, user="someone-else"))
    assert (status, answer) == (409, {
        "error": 'revision "1.0.2" of ci/app already exists with different content'})
    # A re-publish did not make the second one the latest.
    assert json.loads(pkgrepo(h, "latest-revision", config("ci", "app"))[2]) == revision(3)

    # kill -9 right after the 201 loses nothing.
    status, fourth = publish(h, "ci", "app", revision(4))
    assert status == 201
    h.kill9()
    h2 = herald_factory(data_dir=h.data_dir)
    assert pkgrepo_json(h2, "latest-revision", config("ci", "app")) == (200, revision(4))
    events = package_events(h2)
    assert len(events) == 4
    assert fourth["event_id"] in [e["id"] for e in events]
    status, listing = h2.get_json("/api/v1/packages/ci/app/revisions")
    assert status == 200
    assert [r["revision"] for r in listing["revisions"]] == ["1.0.4", "1.0.3", "1.0.2", "1.0.1"]
    assert listing["revisions"][0] == fourth
    assert listing["next"] is None


def test_republish_without_timestamp_is_accepted_once(herald):
    """A retry of a publish that left the time to herald is the same publish."""
    raw = (PAYLOADS / "revision_minimal.json").read_text()
    status, first = publish(herald, "ci", "lib", raw)
    assert status == 201, first
    assert first["revision"] == "1.0.0" and first["data"] == {}
    assert GOCD_TIME.match(first["timestamp"])
    assert publish(herald, "ci", "lib", raw) == (200, first)
    assert len(package_events(herald)) == 1
    # GoCD's answer leaves the unset strings out.
    assert pkgrepo_json(herald, "latest-revision", config("ci", "lib")) == (200, {
        "revision": "1.0.0", "timestamp": first["timestamp"], "data": {}})


def test_each_revision_is_an_event(herald):
    body = json.loads((PAYLOADS / "revision_full.json").read_text())
    status, answer = publish(herald, "releases", "app", body)
    assert status == 201, answer
    (ev,) = package_events(herald)
    assert ev["id"] == answer["event_id"]
    assert ev["source"] == "package" and ev["kind"] == "package-revision"
    assert ev["package"] == {
        "repository": "releases", "name": "app", "revision": "2.4.1-17",
        "timestamp": "2026-03-01T10:11:12.345Z", "user": "release-bot",
        "revision_comment": "Release 2.4.1, build 17",
        "trackback_url": "https://ci.example.com/app/17", "data": body["data"]}


def test_listings(herald):
    for pkg, n in (("app", 1), ("app", 2), ("lib", 1)):
        assert publish(herald, "ci", pkg, revision(n))[0] == 201
    assert publish(herald, "other", "tool", revision(5))[0] == 201
    status, listing = herald.get_json("/api/v1/packages/ci/app/revisions")
    assert status == 200
    assert [r["revision"] for r in listing["revisions"]] == ["1.0.2", "1.0.1"]
    status, page = herald.get_json("/api/v1/packages/ci/app/revisions?limit=1")
    assert [r["revision"] for r in page["revisions"]] == ["1.0.2"] and page["next"]
    status, page = herald.get_json(f"/api/v1/packages/ci/app/revisions?limit=1&cursor={page['next']}")
    assert [r["revision"] for r in page["revisions"]] == ["1.0.1"]
    status, listing = herald.get_json("/api/v1/packages")
    assert status == 200
    got = sorted(listing["packages"], key=lambda p: (p["repository"], p["package"]))
    # The contract's members exactly; the times herald adds are GoCD-style.
    for p in got:
        for extra in set(p) - {"repository", "package", "revisions", "latest"}:
            assert extra in ("created_at", "latest_published_at"), extra
            assert GOCD_TIME.match(p.pop(extra)), extra
    assert got == [
        {"repository": "ci", "package": "app", "revisions": 2, "latest": "1.0.2"},
        {"repository": "ci", "package": "lib", "revisions": 1, "latest": "1.0.1"},
        {"repository": "other", "package": "tool", "revisions": 1, "latest": "1.0.5"}]
    assert pkgrepo_json(herald, "check-repository-connection", config("ci")) == (200, {
        "status": "success", "messages": ['herald has 2 packages in repository "ci"']})


# ---- publishing: every refusal ---------------------------------------------

def refused(h, body, messages, repo="ci", pkg="app", status=400):
    got_status, answer = publish(h, repo, pkg, body)
    assert (got_status, answer) == (status, {"error": messages[0], "errors": messages})


def test_docs_example_key_is_refused(herald):
    """The documentation's example would be refused by GoCD: herald refuses it
    when it is published, not when GoCD polls."""
    body = (FIXTURES / "docs_package_latest-revision_response.json").read_text()
    refused(herald, body, ["data.DATA-THREE: " + KEY_RULE])
    assert package_events(herald) == []


def test_gocds_own_revision_is_accepted(herald):
    body = (FIXTURES / "package_latest-revision_response.json").read_text()
    status, answer = publish(herald, "yum", "abc", body)
    assert status == 201, answer
    assert pkgrepo_json(herald, "latest-revision", config("yum", "abc")) == (
        200, json.loads(body))


def test_wrong_types_all_named(herald):
    refused(herald, (PAYLOADS / "revision_wrong_types.json").read_text(), [
        "revision: expected a non-empty string; got 5",
        f'timestamp: {TIME_RULE}; got "yesterday"',
        "user: expected a string or null; got 7",
        "revisionComment: expected a string or null; got an array",
        "trackbackUrl: expected a string or null; got false",
        "data.VERSION: expected a string; got 5",
        "data.DATA-THREE: " + KEY_RULE,
        f"revisonComment: unknown member (herald reads {MEMBERS})"])


@pytest.mark.parametrize("body, message", [
    ({"revision": ""}, 'revision: expected a non-empty string; got ""'),
    ({}, "revision: expected a non-empty string; got nothing"),
    ({"revision": "1", "data": {"a b": "x"}}, 'data["a b"]: ' + KEY_RULE),
    ({"revision": "1", "data": {"VERSION": None}}, "data.VERSION: expected a string; got null"),
    ({"revision": "1", "data": []}, "data: expected an object of strings or null; got an array"),
    ({"revision": "r" * 1025}, "revision: expected at most 1024 bytes; got 1025"),
    ({"revision": "1", "data": {"V": "v" * 4097}}, "data.V: expected at most 4096 bytes; got 4097"),
    ({"revision": "1", "data": {f"K{i}": "v" for i in range(101)}},
     "data: expected at most 100 keys; got 101"),
    ({"revision": "1", "timestamp": "1969-12-31T23:59:59.999Z"},
     f'timestamp: {TIME_RULE}; got "1969-12-31T23:59:59.999Z"'),
    ([], "body: expected an object; got an array"),
])
def test_refused(herald, body, message):
    refused(herald, body, [message])


def test_too_large(herald):
    body = json.dumps({"revision": "1", "revisionComment": "x" * 70000})
    refused(herald, body, [f"body: expected at most 65536 bytes; got {len(body)}"], status=413)


def test_bad_names_in_the_path(herald):
    refused(herald, revision(1), ["repository: " + NAME_RULE + '; got "a,b"'], repo="a,b")
    refused(herald, revision(1), ["package: " + NAME_RULE + '; got ""'], pkg="")
    # A path without a package is not this endpoint.
    status, data = herald.request("POST", "/api/v1/packages/ci/revisions", revision(1), JSON)
    assert status == 404
    assert package_events(herald) == []


def test_unknown_repository_when_publishing_does_not_create(herald_factory, tmp_path):
    cfg = tmp_path / "herald.yaml"
    cfg.write_text("packages:\n  create: false\n  repositories:\n"
                   "    - name: ci\n      packages:\n        - name: app\n")
    h = herald_factory(["--config", str(cfg)])
    assert publish(h, "ci", "app", revision(1))[0] == 201
    status, answer = publish(h, "elsewhere", "app", revision(1))
    assert status == 404
    assert answer["error"] == ('unknown repository "elsewhere": it is not declared in the '
                               'configuration, and packages.create is false')
    status, answer = publish(h, "ci", "other", revision(1))
    assert status == 404
    assert answer["error"] == ('unknown package "other" in repository "ci": it is not declared in '
                               'the configuration, and packages.create is false')
    # GoCD's connection check for the unknown repository says so.
    assert pkgrepo_json(h, "check-repository-connection", config("elsewhere")) == (200, {
        "status": "failure", "messages": [
            'herald has no package in repository "elsewhere" yet: publish a revision with '
            "POST /api/v1/packages/elsewhere/<package>/revisions"]})
    assert len(package_events(h)) == 1


def test_publish_token(herald_factory, tmp_path):
    cfg = tmp_path / "herald.yaml"
    cfg.write_text("packages:\n  token: s3cret-publish-token\n")
    h = herald_factory(["--config", str(cfg)])
    status, answer = publish(h, "ci", "app", revision(1))
    assert status == 401
    assert "publish token" in answer["error"]
    status, answer = publish(h, "ci", "app", revision(1),
                             {"Authorization": "Bearer wrong", **JSON})
    assert status == 401
    status, answer = publish(h, "ci", "app", revision(1),
                             {"Authorization": "Bearer s3cret-publish-token", **JSON})
    assert status == 201, answer
    assert len(package_events(h)) == 1
