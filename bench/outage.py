#!/usr/bin/python3
"""The figure of issue 16: attempts made during a one-hour outage of a
target with 1,000 deliveries pending, before and after circuit breaking.

Runs the real daemon twice against a target that refuses connections (a
port nobody listens on), with every duration of the defaults divided by
SCALE (default 100: the hour takes 36 s):
  before: circuit: {failures: 0}, the old behaviour (each delivery on its
          own backoff schedule until max_attempts, then a dead letter);
  after:  the default circuit (10 failures in a row, probes from 30 s
          doubling to 10 min), scaled the same way.
Counts attempts and dead letters from herald's /metrics, and
prints what the old schedule gives on paper too.

    bench/outage.py                 # HERALD_BIN=build/herald, SCALE=100, N=1000
"""
import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("HERALD_BIN", str(ROOT / "build" / "herald"))
SCALE = float(os.environ.get("SCALE", "100"))
N = int(os.environ.get("N", "1000"))
HOUR_S = 3600 / SCALE
BODY = (ROOT / "tests" / "payloads" / "gocd" / "stage-status_v4_completed_failed.json").read_bytes()


def ms(seconds):
    return f"{max(1, round(seconds * 1000 / SCALE))}ms"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def paper_schedule(max_attempts=10, initial=10, cap=3600, hour=3600):
    """Attempts of one delivery within the hour on the old schedule
    (no jitter): at 0, then after 10 s, 20 s, 40 s ... up to 1 h."""
    t, n, wait = 0, 0, initial
    while t <= hour and n < max_attempts:
        n += 1
        t += wait
        wait = min(wait * 2, cap)
    return n


def act(base, action):
    req = urllib.request.Request(f"{base}/api/v1/targets/down/{action}", b"{}",
                                 {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def run(circuit):
    dead_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "herald.yaml"
        cfg.write_text(f"""
delivery:
  max_attempts: 10
  backoff_initial: {ms(10)}
  backoff_max: {ms(3600)}
  connect_timeout: 1s
  allow: [127.0.0.0/8]
  circuit: {circuit}
targets:
  - name: down
    url: http://127.0.0.1:{dead_port}/hook
routes:
  - name: all
    targets: [down]
""")
        log = open(Path(d) / "herald.log", "w")
        p = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data",
                              str(Path(d) / "data"), "--config", str(cfg), "--insecure-local"],
                             stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            # The target is paused while the events come in (the machine may
            # take a while to store 1,000), so the hour starts for all of
            # them at once, when it is resumed.
            act(base, "pause")
            start = time.time()

            def post(_):
                for _ in range(50):
                    req = urllib.request.Request(base + "/gocd/notification/stage-status", BODY,
                                                 {"Content-Type": "application/json"})
                    try:
                        urllib.request.urlopen(req, timeout=30).read()
                        return
                    except OSError:  # herald's per-address cap: send it again
                        time.sleep(0.05)
                raise RuntimeError("herald did not take an event")
            # Many at once, so that the writer's group commit takes them in
            # a second or two of the scaled hour.
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(post, range(N)))
            posted = time.time() - start
            act(base, "resume")
            time.sleep(HOUR_S)
            text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
            counts = dict(re.findall(
                r'^herald_delivery_attempts_total\{outcome="([a-z]+)"\} (\d+)$', text, re.M))
            attempts = sum(int(v) for v in counts.values())
            dead = int(counts.get("dead", 0))
            state = re.search(r'^herald_target_state\{target="down",state="open"\} 1$', text,
                              re.M) is not None
            return attempts, dead, state, posted
        finally:
            p.terminate()
            p.wait(30)
            log.close()


def main():
    per = paper_schedule()
    print(f"{N} deliveries pending, a target down for one hour (durations / {SCALE:g}: "
          f"{HOUR_S:g} s)")
    print(f"on paper, the old schedule: {per} attempts per delivery in the hour, "
          f"{N * per} in all; each becomes a dead letter at its 10th attempt (after ~85 min)",
          flush=True)
    before = run("{failures: 0}")
    print(f"before (no circuit):  {before[0]:6d} attempts, {before[1]:4d} dead letters "
          f"(events posted in {before[3]:.1f} s)", flush=True)
    after = run(f"{{failures: 10, probe_initial: {ms(30)}, probe_max: {ms(600)}}}")
    print(f"after (circuit):      {after[0]:6d} attempts, {after[1]:4d} dead letters, "
          f"circuit open at the end: {after[2]} (events posted in {after[3]:.1f} s)")
    return 0 if after[1] == 0 and after[0] < before[0] else 1


if __name__ == "__main__":
    sys.exit(main())
