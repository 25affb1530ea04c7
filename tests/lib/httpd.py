#!/usr/bin/python3
"""httpd.py - the test fixture's HTTP/1.1 server (python3 stdlib only).

Serves the files under --root on 127.0.0.1 at a free port, which it writes
to --port-file (its pid to --pid-file).  Started by tests/lib/fixture-up.

  * GET and HEAD; keep-alive; directories and missing files are 404.
  * Last-Modified + If-Modified-Since, ETag + If-None-Match: 304.
  * Range: bytes=A-B, A-, -N (one range): 206; past the end: 416.
    If-Range with a stale validator gets the whole file (200).
  * Every request is one line "METHOD PATH STATUS" in --log.

Path prefixes for failure tests, combinable left to right, e.g.
/tag/t0300/truncate/good/pool/…:
  /tag/<any>/…      serves …; only makes the path unique (for the log, and
                    for /flaky/ which counts per path)
  /truncate/…       announces the full Content-Length, sends half the body,
                    then closes the connection
  /slow/…           sends the body in 1 KiB pieces, 0.1 s apart
  /flaky/…          503 on the first request for the full path, then normal
  /status/<code>/…  answers <code> with a short text body, serves nothing
  /redirect/…       301 to the same path without /redirect

Exits when --watch (the fixture directory) disappears, so a test run
killed hard leaves no server behind; on SIGTERM it also stops the gpg-agent
of --gnupghome, which tests signing with KILN_TEST_GNUPGHOME may start.
"""

import argparse
import email.utils
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIXES = {"tag", "truncate", "slow", "flaky", "status", "redirect"}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, root, log_path):
        super().__init__(addr, handler)
        self.root = root
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", buffering=1, encoding="utf-8")
        self.flaky_seen = set()
        self.flaky_lock = threading.Lock()

    def log_line(self, line):
        with self.log_lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY every request after the first on a kept-alive
    # connection waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server_version = "kiln-test-httpd/1"

    def version_string(self):
        return self.server_version

    def log_request(self, code="-", size="-"):
        code = getattr(code, "value", code)
        self.server.log_line("%s %s %s" % (self.command or "-", self.path or "-", code))

    def log_message(self, fmt, *args):  # no stderr chatter
        pass

    def do_GET(self):
        self.serve(body=True)

    def do_HEAD(self):
        self.serve(body=False)

    def plain(self, code, text, extra=()):
        data = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def serve(self, body):
        raw = urllib.parse.urlsplit(self.path).path
        segs = [urllib.parse.unquote(s) for s in raw.split("/") if s != ""]
        if any(s in (".", "..") or "\0" in s for s in segs):
            return self.plain(400, "bad path")
        modes = set()
        i = 0
        while i < len(segs) and segs[i] in PREFIXES:
            p = segs[i]
            if p in ("tag", "status"):
                if i + 1 >= len(segs):
                    return self.plain(404, "not found")
                if p == "status":
                    try:
                        code = int(segs[i + 1])
                    except ValueError:
                        return self.plain(400, "bad status")
                    if not 200 <= code <= 599:
                        return self.plain(400, "bad status")
                    return self.plain(code, "status %d as asked" % code)
                i += 2
                continue
            if p == "redirect":
                rest = "/".join(segs[:i] + segs[i + 1:])
                return self.plain(301, "moved", [("Location", "/" + urllib.parse.quote(rest))])
            modes.add(p)
            i += 1
        if "flaky" in modes:
            with self.server.flaky_lock:
                first = self.path not in self.server.flaky_seen
                self.server.flaky_seen.add(self.path)
            if first:
                return self.plain(503, "flaky: try again", [("Retry-After", "0")])

        path = os.path.join(self.server.root, *segs[i:])
        try:
            st = os.stat(path)
        except OSError:
            return self.plain(404, "not found")
        if not os.path.isfile(path):
            return self.plain(404, "not found")

        size = st.st_size
        mtime = int(st.st_mtime)
        etag = '"%x-%x"' % (mtime, size)
        last_modified = email.utils.formatdate(mtime, usegmt=True)
        validators = [("Last-Modified", last_modified), ("ETag", etag)]

        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        not_modified = False
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            not_modified = "*" in tags or etag in tags or ("W/" + etag) in tags
        elif ims is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
                not_modified = mtime <= since
            except (TypeError, ValueError, IndexError):
                not_modified = False
        if not_modified:
            self.send_response(304)
            for k, v in validators:
                self.send_header(k, v)
            self.end_headers()
            return

        start, end = 0, size - 1
        code = 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng is not None and if_range is not None and if_range.strip() not in (etag, last_modified):
            rng = None
        if rng is not None:
            parsed = parse_range(rng, size)
            if parsed == "unsatisfiable":
                return self.plain(416, "range not satisfiable", [("Content-Range", "bytes */%d" % size)])
            if parsed is not None:
                start, end = parsed
                code = 206

        length = end - start + 1
        self.send_response(code)
        ctype = "application/vnd.debian.binary-package" if path.endswith(".deb") else (
            "application/x-xz" if path.endswith(".xz") else
            "application/gzip" if path.endswith(".gz") else "text/plain; charset=utf-8"
            if os.path.basename(path) in ("Release", "InRelease", "Packages") else
            "application/octet-stream")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        for k, v in validators:
            self.send_header(k, v)
        if "truncate" in modes:
            self.send_header("Connection", "close")
        self.end_headers()
        if not body:
            return
        send = length // 2 if "truncate" in modes else length
        chunk = 1024 if "slow" in modes else 64 * 1024
        with open(path, "rb") as f:
            f.seek(start)
            left = send
            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    break
                self.wfile.write(data)
                left -= len(data)
                if "slow" in modes and left > 0:
                    self.wfile.flush()
                    time.sleep(0.1)
        if "truncate" in modes:
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass


def parse_range(value, size):
    """(start, end) for one 'bytes=' range, None to ignore it, or 'unsatisfiable'."""
    value = value.strip()
    if not value.startswith("bytes=") or "," in value:
        return None
    spec = value[6:].strip()
    first, sep, last = spec.partition("-")
    if not sep:
        return None
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return (max(0, size - n), size - 1) if size else "unsatisfiable"
        start = int(first)
        end = int(last) if last != "" else size - 1
    except ValueError:
        return None
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return start, min(end, size - 1)


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--pid-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--watch", help="exit when this directory disappears")
    ap.add_argument("--gnupghome", help="stop this home's gpg-agent on SIGTERM")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    server = Server(("127.0.0.1", args.port), Handler, os.path.abspath(args.root), args.log)

    def stop(signum, frame):
        if args.gnupghome and os.path.isdir(args.gnupghome):
            subprocess.run(["gpgconf", "--homedir", args.gnupghome, "--kill", "all"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    if args.watch:
        def watch():
            while os.path.isdir(args.watch):
                time.sleep(1)
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()

    write_atomically(args.pid_file, "%d\n" % os.getpid())
    write_atomically(args.port_file, "%d\n" % server.server_address[1])
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    sys.exit(main())
