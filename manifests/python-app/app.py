"""A small JSON web application on Python's standard library.

GET  /health         "ok" (the health check)
GET  /               {"greeting": ..., "python": ..., "visits": N}: counts visits
GET  /notes          every note, oldest first
POST /notes          {"text": "..."} stores a note; answers it with its id

The database is SQLite at $APP_DB (a volume, so a new deployment keeps it).
"""
import json
import os
import signal
import sqlite3
import sys
import threading
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DB = os.environ.get("APP_DB", "/var/lib/app/app.db")
PORT = int(os.environ.get("PORT", "8000"))
MAX_BODY = 64 * 1024
lock = threading.Lock()


def connect():
    db = sqlite3.connect(DB, timeout=5)
    db.execute("CREATE TABLE IF NOT EXISTS visits (n INTEGER NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    if db.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 0:
        db.execute("INSERT INTO visits VALUES (0)")
    db.commit()
    return db


class Handler(BaseHTTPRequestHandler):
    server_version = "python-app/1"

    def reply(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, b"ok\n", "text/plain")
        with lock, closing(connect()) as db, db:
            if self.path == "/":
                db.execute("UPDATE visits SET n = n + 1")
                n = db.execute("SELECT n FROM visits").fetchone()[0]
                return self.reply(200, {"greeting": "hello from a kiln image",
                                        "python": sys.version.split()[0], "visits": n})
            if self.path == "/notes":
                rows = db.execute("SELECT id, text FROM notes ORDER BY id").fetchall()
                return self.reply(200, [{"id": i, "text": t} for i, t in rows])
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/notes":
            return self.reply(404, {"error": "not found"})
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY:
                raise ValueError("a body of 1 to %d bytes is required" % MAX_BODY)
            note = json.loads(self.rfile.read(length))
            if not isinstance(note, dict) or not isinstance(note.get("text"), str):
                raise ValueError('expected {"text": "..."}')
        except ValueError as e:
            return self.reply(400, {"error": str(e)})
        with lock, closing(connect()) as db, db:
            cur = db.execute("INSERT INTO notes (text) VALUES (?)", (note["text"],))
        self.reply(201, {"id": cur.lastrowid, "text": note["text"]})

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    connect().close()
    server = ThreadingHTTPServer(("", PORT), Handler)
    # The stop signal: finish the request in hand, then exit 0.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("python-app: listening on port %d, database %s" % (PORT, DB), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
