/**
 * The README example as the VM tests and benches boot it (one VCPU, the Formfile user `webdev`
 * admitting `pub`, an HTTP app on 8080 answering "hello from formation"). Byte-stable with a cached
 * key, so its image is a builder cache hit on a warm machine.
 */
export const README_EXAMPLE_SERVER_PY = `from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from formation\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", 8080), Hello).serve_forever()
`;

/** The example's Formfile text, with `pub` as the user's authorised key (context: `app/server.py`). */
export function readmeExampleFormfile(pub: string): string {
  return [
    "NAME hello-server",
    `USER username:webdev passwd:webpass123 sudo:true ssh_authorized_keys:"${pub}"`,
    "VCPU 1",
    "MEM 1024",
    "DISK 5",
    "COPY ./app /app",
    "INSTALL python3",
    "WORKDIR /app",
    'ENTRYPOINT ["python3", "server.py"]',
  ].join("\n");
}
