"""A tiny web server for the hello-server example: answers every GET with "hello from formation"."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 8080
BODY = b"hello from formation\n"


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (name fixed by http.server)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", PORT), Hello).serve_forever()
