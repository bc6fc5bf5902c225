"""Shared fixtures for herald's system tests.

Every test drives the real daemon (HERALD_BIN, default build/herald) on
loopback over real sockets, with its database in a real folder, or with
HERALD_TEST_STORE=postgresql in a database of its own on the PostgreSQL
server HERALD_TEST_PG names (scripts/pg.sh; scripts/test.sh starts one).
With HERALD_WRAPPER set (for example to a valgrind command line) the daemon runs
under it, and a non-zero exit at shutdown fails the test.
"""
import http.client
import json
import os
import re
import shlex
import signal
import subprocess
import hashlib
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "gocd"
PAYLOADS = ROOT / "tests" / "payloads" / "gocd"
BIN = os.environ.get("HERALD_BIN", str(ROOT / "build" / "herald"))
WRAPPER = shlex.split(os.environ.get("HERALD_WRAPPER", ""))
# How much slower than a release build the daemon runs: valgrind many
# times; the sanitizers' build about twice (scripts/test.sh sets
# HERALD_TEST_SLOW=2 for it). Every bound on time is multiplied by it.
SLOW = float(os.environ.get("HERALD_TEST_SLOW") or (10 if WRAPPER else 1))
STORE = os.environ.get("HERALD_TEST_STORE", "sqlite")
PG = os.environ.get("HERALD_TEST_PG")


def pg_uri(data_dir):
    """A database of its own for one data folder (the same one again when
    the test restarts herald on that folder), created on first use."""
    name = "h_" + hashlib.sha1(str(data_dir).encode()).hexdigest()[:20]
    found = subprocess.run(["psql", "-tAq", PG, "-c",
                            f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                           capture_output=True, text=True, check=True).stdout.strip()
    if found != "1":
        subprocess.run(["psql", "-q", PG, "-c", f"CREATE DATABASE {name}"],
                       capture_output=True, check=True)
    return PG.rsplit("/", 1)[0] + "/" + name


def pytest_configure(config):
    config.addinivalue_line("markers", "valgrind: also run with the daemon under valgrind")
    config.addinivalue_line("markers", "slow: heavy; skipped under the sanitizers")
    config.addinivalue_line("markers", "sqlite_only: tests what only the SQLite store has")


def pytest_collection_modifyitems(config, items):
    if STORE != "postgresql":
        return
    for item in items:
        if PG is None:
            item.add_marker(pytest.mark.skip(reason="HERALD_TEST_PG is not set"))
        elif item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="SQLite only"))


class Herald:
    """One herald daemon process, startable, stoppable and killable."""

    def __init__(self, data_dir, log_path, args=()):
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.proc = None
        self.port = None
        self.log_path = Path(log_path)
        self.log = None
        # Sent with every gocd() request, as the bridge sends its token.
        self.gocd_headers = {}
        # False: no --data (nor the PostgreSQL re-run's --store), so that
        # the config's store: decides where the store is.
        self.data_flag = True

    def start(self, port=0, wait=True):
        self.log = open(self.log_path, "ab")
        cmd = WRAPPER + [BIN, "serve", "--listen", f"127.0.0.1:{port}"] + \
            (["--data", str(self.data_dir)] if self.data_flag else []) + self.args
        if STORE == "postgresql" and "--store" not in self.args and self.data_flag:
            cmd += ["--store", pg_uri(self.data_dir)]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        if not wait:
            return self
        deadline = time.time() + 30 * SLOW
        while time.time() < deadline:
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            m = re.search(r"\(port (\d+)\)", text)
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                if port and "Address already in use" in text:
                    # A fixed port (a restart on the same one) whose last
                    # connections are still closing: try again until the
                    # deadline.
                    time.sleep(0.2)
                    offset = self.log_path.stat().st_size
                    self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
                    continue
                raise RuntimeError(f"herald exited {self.proc.returncode}:\n{text}")
            time.sleep(0.02)
        else:
            raise RuntimeError("herald did not start:\n" + self.log_text())
        status, _ = self.get("/healthz")
        assert status == 200
        return self

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30 * SLOW)

    def request(self, method, path, body=None, headers=None, conn=None):
        """One request. Bodies go as application/json, as every sender herald
        knows sends them, unless headers name another Content-Type (None:
        send none)."""
        c = conn or self.conn()
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = dict(headers or {})
        ctype = next((k for k in headers if k.lower() == "content-type"), None)
        if ctype is None and method != "GET":
            headers["Content-Type"] = "application/json"
        elif ctype is not None and headers[ctype] is None:
            del headers[ctype]
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, data

    def get(self, path):
        return self.request("GET", path)

    def get_json(self, path):
        status, data = self.get(path)
        return status, json.loads(data) if data else None

    def gocd(self, name, body=None, version="4.0", conn=None):
        """One GoCD notification plugin request; returns (status, parsed answer)."""
        headers = {"Content-Type": "application/json", **self.gocd_headers}
        if version is not None:
            headers["X-Go-Extension-Version"] = version
        status, data = self.request("POST", f"/gocd/notification/{name}", body, headers, conn)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data

    def events(self, **query):
        q = "&".join(f"{k}={v}" for k, v in query.items())
        status, data = self.get_json("/api/v1/events" + ("?" + q if q else ""))
        assert status == 200, data
        return data["events"]

    def all_events(self):
        out, cursor = [], None
        while True:
            q = "/api/v1/events?limit=500" + (f"&cursor={cursor}" if cursor else "")
            status, data = self.get_json(q)
            assert status == 200
            out += data["events"]
            cursor = data["next_cursor"]
            if not cursor:
                return out

    def stop(self, sig=signal.SIGTERM, timeout=None):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout or 60 * SLOW)
        self.proc = None
        self.log.close()
        if sig in (signal.SIGTERM, signal.SIGINT):
            # A clean stop exits 0; under valgrind or the sanitizers a memory
            # error or leak found at exit makes it non-zero.
            assert rc == 0, "herald exited %s:\n%s" % (rc, self.log_text()[-4000:])
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)


@pytest.fixture
def herald_factory(tmp_path):
    started = []

    def make(args=(), data_dir=None, start=True):
        n = len(started)
        h = Herald(data_dir or tmp_path / f"data{n}", tmp_path / f"herald{n}.log", args)
        started.append(h)
        return h.start() if start else h

    yield make
    for h in started:
        if h.proc is not None:
            h.stop()


GOCD_TOKEN = "system-test-gocd-token"


@pytest.fixture
def settings_herald(herald_factory, tmp_path):
    """Starts a herald that takes GoCD plugin settings changes: it has a
    GoCD token (without one it refuses them, docs/operating.md "Security
    model"), and its gocd() requests carry it as the bridge does."""
    def make(args=()):
        tok = tmp_path / "gocd-token"
        tok.write_text(GOCD_TOKEN + "\n")
        h = herald_factory(list(args) + ["--gocd-token-file", str(tok)])
        h.gocd_headers = {"Authorization": f"Bearer {GOCD_TOKEN}"}
        return h
    return make


@pytest.fixture
def herald(herald_factory):
    return herald_factory()


def fill(text, values):
    """Replaces each %s in text by the next value, in order."""
    parts = text.split("%s")
    assert len(parts) == len(values) + 1, (len(parts) - 1, len(values))
    return parts[0] + "".join(v + p for v, p in zip(values, parts[1:]))


def fill_fixture(name):
    """A fixture from shared/fixtures/gocd with its %s placeholders filled as
    the fixtures' README says; returns (text, version string)."""
    text = (FIXTURES / name).read_text()
    version = "4.0"
    m = re.search(r"_v(\d)_", name)
    if m:
        version = f"{m.group(1)}.0"
    if "%s" not in text:
        return text, version
    if name.startswith("stage-status"):
        if version in ("1.0", "2.0"):
            text = fill(text, [f"2019-01-0{i + 1}T10:11:12.{i:03d}Z" for i in range(8)])
        elif version == "3.0":
            text = fill(text, [f"2019-01-0{i + 1}T10:11:12.{i:03d}+0000" for i in range(8)])
        else:
            vals = []
            for i in range(8):
                vals += [f"fingerprint-{i}", f"2019-01-0{i + 1}T10:11:12.{i:03d}+0000"]
            text = fill(text, vals)
    else:
        text = text.replace("%s", "2018-02-15T06:31:28.998+0000")
    return text, version
