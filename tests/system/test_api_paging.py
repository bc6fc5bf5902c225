"""The lists paged by key over the real daemon: /api/v1/stages, /jobs and
/packages answer at most ?limit= rows (default 50, at most 500) in key
order with a next_cursor, a walk sees every row exactly once, and a bad
limit or cursor is refused naming the parameter."""
import json

import pytest

from conftest import PAYLOADS

JSON = {"Content-Type": "application/json"}


def stage_body(pipeline, stage, result):
    body = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())
    p = body["pipeline"]
    p["name"], p["counter"] = pipeline, "1"
    p["stage"]["name"], p["stage"]["state"], p["stage"]["result"] = stage, result, result
    return body


def walk(herald, path, key, limit):
    """Every row of the list, page by page; asserts each page's bound."""
    rows, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, page = herald.get_json(url)
        assert status == 200, page
        assert len(page[key]) <= limit
        rows += page[key]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, pages
        assert len(page[key]) == limit
        assert pages < 100


@pytest.fixture
def filled(herald_factory):
    h = herald_factory(["--insecure-local"])
    # 9 pipelines of 2 stages (every third failed), 7 jobs on 2 branches,
    # 2 repositories of 5 packages.
    for i in range(9):
        for stage in ("build", "test"):
            result = "Failed" if (i + len(stage)) % 3 == 0 else "Passed"
            status, answer = h.gocd("stage-status", stage_body(f"pipe-{i}", stage, result))
            assert status == 200, answer
    base = json.loads((PAYLOADS.parent / "jenkins" / "notify_gitlab_success.json").read_text())
    for i in range(7):
        for branch in ("main", "dev"):
            body = dict(base, job=f"group/job-{i}", branch=branch, build=i + 1,
                        status="FAILURE" if i % 2 else "SUCCESS")
            status, answer = h.request("POST", "/ci/notify", body, JSON)
            assert status == 200, answer
    for repo in ("ci", "tools"):
        for n in range(5):
            rev = {"revision": "1.0.%d" % n, "timestamp": "2026-01-01T08:00:00Z"}
            status, answer = h.request("POST", f"/api/v1/packages/{repo}/pkg-{n}/revisions",
                                       rev, JSON)
            assert status == 201, answer
    return h


@pytest.mark.parametrize("path,key,fields,total", [
    ("/api/v1/stages", "stages", ("pipeline", "stage"), 18),
    ("/api/v1/jobs", "jobs", ("source", "job", "branch"), 14),
    ("/api/v1/packages", "packages", ("repository", "package"), 10),
])
def test_cursor_walks_every_row_once(filled, path, key, fields, total):
    status, whole = filled.get_json(path)
    assert status == 200 and whole["next_cursor"] is None
    assert len(whole[key]) == total
    keys = [tuple(r[f] or "" for f in fields) for r in whole[key]]
    assert keys == sorted(keys) and len(set(keys)) == total
    for limit in (1, 3, total - 1, total):
        rows, pages = walk(filled, path, key, limit)
        assert [tuple(r[f] or "" for f in fields) for r in rows] == keys
        assert pages == -(-total // limit)


def test_last_result_filter_pages(filled):
    status, whole = filled.get_json("/api/v1/stages")
    failed = [(s["pipeline"], s["stage"]) for s in whole["stages"] if s["last_result"] == "Failed"]
    assert 0 < len(failed) < 18
    rows, _ = walk(filled, "/api/v1/stages?last_result=Failed", "stages", 2)
    assert [(s["pipeline"], s["stage"]) for s in rows] == failed
    status, jobs = filled.get_json("/api/v1/jobs?last_result=Failed&limit=500")
    assert status == 200 and jobs["jobs"]
    assert all(j["last_result"] == "Failed" for j in jobs["jobs"])
    status, pkgs = filled.get_json("/api/v1/packages?repository=tools&limit=2")
    assert [p["package"] for p in pkgs["packages"]] == ["pkg-0", "pkg-1"]
    assert all(p["repository"] == "tools" for p in pkgs["packages"])


def test_default_limit_is_50(herald_factory):
    h = herald_factory(["--insecure-local"])
    for n in range(51):
        rev = {"revision": "1", "timestamp": "2026-01-01T08:00:00Z"}
        assert h.request("POST", f"/api/v1/packages/r/p{n:02d}/revisions", rev, JSON)[0] == 201
    status, page = h.get_json("/api/v1/packages")
    assert status == 200 and len(page["packages"]) == 50 and page["next_cursor"]
    status, rest = h.get_json("/api/v1/packages?cursor=" + page["next_cursor"])
    assert [p["package"] for p in rest["packages"]] == ["p50"] and rest["next_cursor"] is None


@pytest.mark.parametrize("path", ["/api/v1/stages", "/api/v1/jobs", "/api/v1/packages"])
@pytest.mark.parametrize("query,name", [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=x", "limit"), ("limit=", "limit"),
    ("cursor=zz", "cursor"), ("cursor=616", "cursor"), ("cursor=", "cursor"),
    # One part is never a key; a key of 4 parts neither.
    ("cursor=4142", "cursor"), ("cursor=610062006300640", "cursor"), ("cursor=6100620063006400", "cursor"),
    ("cursor=" + "61" * 4097, "cursor"), ("cursor=4A42", "cursor"),
])
def test_bad_limit_or_cursor(herald, path, query, name):
    status, body = herald.get(f"{path}?{query}")[:2]
    assert status == 400, body
    assert name.encode() in body
