"""Real local HTTP servers that play webhook targets in the delivery tests.

A Target listens on 127.0.0.1 (a free port), records every request (method,
path, headers, body, time) and answers from a script: a list of behaviours
used in order (the last one repeats): an int status, ("status", code,
headers) or ("status", code, headers, body bytes), "hang" (answer nothing for `hang` seconds), or "close" (drop the
connection without answering). `paths` ({prefix: behaviour}) answers every
request whose path starts with a prefix with that behaviour instead.
"""
import http.server
import random
import socket
import threading
import time


class Target:
    def __init__(self, script=(200,), hang=5.0, paths=None):
        self.script = list(script)
        self.hang = hang
        self.paths = dict(paths or {})
        self.requests = []
        self.lock = threading.Condition()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with target.lock:
                    i = len(target.requests)
                    target.requests.append({
                        "method": self.command, "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body, "at": time.time()})
                    target.lock.notify_all()
                    behaviour = next((b for p, b in target.paths.items()
                                      if self.path.startswith(p)),
                                     target.script[min(i, len(target.script) - 1)])
                if behaviour == "hang":
                    time.sleep(target.hang)
                    self.close_connection = True
                    return
                if behaviour == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, payload = (behaviour, {}, b'{"ok":true}') \
                    if isinstance(behaviour, int) else (list(behaviour[1:]) + [b'{"ok":true}'])[:3]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def wait(self, n, timeout=20):
        """Waits until n requests arrived; returns them."""
        deadline = time.time() + timeout
        with self.lock:
            while len(self.requests) < n:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"{len(self.requests)} requests arrived, wanted {n}")
                self.lock.wait(left)
            return list(self.requests)


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A loopback port nothing listens on now, for a server a test starts
    later (or never). It lies below the kernel's ephemeral range: a port the
    kernel hands out could meanwhile become the source port of some
    outbound connection (a sender retrying the dead port can even connect
    to itself on it), and then herald could not bind it."""
    low, _ = _ephemeral_range()
    low = min(low, 65536)
    for _ in range(200):
        port = random.randrange(max(1024, low - 20000), low)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free loopback port below the ephemeral range")
