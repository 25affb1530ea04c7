"""A tiny HTTP/1.0 service on python3-minimal's standard library (socket,
selectors, os), which has no http.server: GET /health answers "ok", any
other path a greeting with the interpreter's version."""
import os
import platform
import socket

PORT = int(os.environ.get("PORT", "8000"))


def answer(path):
    if path == "/health":
        return "200 OK", "ok\n"
    return "200 OK", "hello from python %s in a kiln image\n" % platform.python_version()


def serve():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", PORT))
        srv.listen(16)
        print("listening on :%d" % PORT, flush=True)
        while True:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(5)
                try:
                    request = conn.recv(4096).decode("latin-1")
                except OSError:
                    continue
                parts = request.split(" ")
                path = parts[1] if len(parts) > 2 and parts[0] == "GET" else None
                status, body = answer(path) if path else ("400 Bad Request", "bad request\n")
                conn.sendall(("HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                              % (status, len(body), body)).encode())


if __name__ == "__main__":
    serve()
