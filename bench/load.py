#!/usr/bin/env python3
"""bench/load.py PORT FILE - HTTP load on 127.0.0.1:PORT until SIGINT.

One new connection per request, as fast as one client goes; one line per
request in FILE: "UNIX_TIME PAGE" (the body's first line), or
"UNIX_TIME FAIL reason" for a refused, reset, timed-out or non-200 request.
The time is when the answer (or the failure) came.
"""
import http.client
import signal
import sys
import time

port, path = int(sys.argv[1]), sys.argv[2]
stop = False


def on_int(*_):
    global stop
    stop = True


signal.signal(signal.SIGINT, on_int)
with open(path, "w", buffering=1) as out:
    while not stop:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/")
            r = c.getresponse()
            body = r.read().decode(errors="replace").split("\n")[0]
            c.close()
            line = body if r.status == 200 else "FAIL status %d" % r.status
        except Exception as e:  # refused, reset, timeout: all failures
            line = "FAIL %s" % type(e).__name__
        out.write("%.6f %s\n" % (time.time(), line))
