"""herald's command line: help, version, usage errors, start-up failures."""
import signal
import subprocess

import pytest

from conftest import BIN, WRAPPER


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)


def test_help_reads_like_a_man_page():
    r = run("--help")
    assert r.returncode == 0
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENDPOINTS", "SIGNALS",
                    "FILES", "EXIT STATUS", "EXAMPLES"):
        assert f"\n{section}\n" in "\n" + r.stdout, section
    for opt in ("--listen", "--data", "--config", "--threads", "--log-level"):
        assert opt in r.stdout
    assert run("serve", "--help").stdout == r.stdout


def test_help_documents_notify_and_publish():
    r = run("--help")
    assert "\nNOTIFY AND PUBLISH\n" in r.stdout
    for text in ("herald notify --url URL --status STATUS", "herald publish --url URL",
                 "--deadline D", "--env GLOB", "--token-file FILE", "HERALD_TOKEN",
                 "POST /ci/notify", "3 when herald did not"):
        assert text in r.stdout, text
    assert run("notify", "--help").stdout == r.stdout
    assert run("publish", "--help").stdout == r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("herald ")


@pytest.mark.parametrize("args,message", [
    (["frobnicate"], "herald: unknown command: frobnicate"),
    (["serve", "--threads", "0"], "herald: --threads 0: expected a number from 1 to 64"),
    (["serve", "--log-level", "loud"], "herald: --log-level loud: expected error, warn, info or debug"),
    (["serve", "extra"], "herald: unexpected argument: extra"),
    (["serve", "--max-head-bytes", "16383"],
     "herald: --max-head-bytes 16383: expected a size from 16KiB to 1MiB (16384 to 1048576"
     " bytes), such as 65536 or 64KiB"),
    (["serve", "--max-head-bytes", "2MiB"],
     "herald: --max-head-bytes 2MiB: expected a size from 16KiB to 1MiB (16384 to 1048576"
     " bytes), such as 65536 or 64KiB"),
    (["serve", "--max-head-bytes", "64kb"],
     "herald: --max-head-bytes 64kb: expected a size from 16KiB to 1MiB (16384 to 1048576"
     " bytes), such as 65536 or 64KiB"),
])
def test_usage_errors_exit_2(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert r.stderr.startswith(message), r.stderr


def test_bad_listen_address_exits_1(tmp_path):
    r = run("serve", "--listen", "127.0.0.1", "--data", str(tmp_path))
    assert r.returncode == 1
    assert "--listen 127.0.0.1: expected ADDRESS:PORT" in r.stderr


def test_unreadable_config_exits_1(tmp_path):
    r = run("serve", "--config", str(tmp_path / "missing.yaml"), "--data", str(tmp_path))
    assert r.returncode == 1
    assert "missing.yaml: cannot open: No such file or directory" in r.stderr, r.stderr
    assert "refusing to start: the configuration has 1 problems" in r.stderr


def test_data_dir_that_cannot_be_made_exits_1(tmp_path):
    (tmp_path / "file").write_text("x")
    r = run("serve", "--data", str(tmp_path / "file" / "sub"), "--listen", "127.0.0.1:0")
    assert r.returncode == 1
    assert "cannot open the store" in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_cleanly(herald_factory, sig):
    h = herald_factory()
    assert h.stop(sig) == 0
    log = h.log_text()
    assert "listening on http://127.0.0.1:0" in log
    assert "stopped cleanly" in log
