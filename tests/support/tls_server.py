#!/usr/bin/env python3
"""tls_server.py: an HTTPS endpoint for floodgate's TLS tests and benchmark,
built on Python's ssl module (OpenSSL underneath) and http.server -- a TLS
stack floodgate does not implement itself.

It answers POSTs (HTTP/1.1, keep-alive) with an empty 200, or 401 (or
--refuse-status) when --bearer-file/--basic is set and the Authorization
header does not match.
Bodies sent with Content-Encoding: gzip are decoded. It prints
"PORT=<tls port>" (and "PLAIN_PORT=<port>" with --also-plain) on stdout once
it listens, serves until SIGTERM or SIGINT, then prints
"requests=N lines=N connections=N resumed=N handshake_errors=N".

  --cert F --key F      the server's certificate (chain) and key
  --client-ca F         require a client certificate issued by this CA (mTLS)
  --max-version 1.2     refuse TLS 1.3
  --plain               no TLS at all (plain HTTP on PORT)
  --also-plain          plus a plain HTTP listener (PLAIN_PORT), same handler
  --bearer-file F       accept "Bearer <t>" for each line t of F (read per request)
  --basic USER:PASS     accept this basic authentication
  --refuse-status N     what refused credentials get (default 401)
  --close               answer with Connection: close (every request reconnects)
  --idle-timeout S      close a kept-alive connection idle for S seconds, silently
  --bodies F            append the (decoded) body of every 2xx answer to F
  --events F            append one JSON line per connection, handshake failure,
                        request and reload to F
  --quiet               count only (benchmarks): no bodies, no events

SIGHUP reloads --cert, --key and --client-ca into a new context (for new
connections), as a server does when its certificate is renewed.
"""
import argparse
import base64
import gzip
import json
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

lock = threading.Lock()
counts = {"requests": 0, "lines": 0, "connections": 0, "resumed": 0, "handshake_errors": 0}


def count(key, n=1):
    with lock:
        counts[key] += n


def event(args, obj):
    if args.events and not args.quiet:
        with lock, open(args.events, "a") as f:
            f.write(json.dumps(obj) + "\n")


def make_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    if args.max_version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def allowed(self, auth):
        args = self.server.args
        if args.bearer_file:
            with open(args.bearer_file) as f:
                tokens = [t.strip() for t in f if t.strip()]
            return auth in ["Bearer " + t for t in tokens]
        if args.basic:
            return auth == "Basic " + base64.b64encode(args.basic.encode()).decode()
        return True

    def do_POST(self):
        args = self.server.args
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding")
        body = gzip.decompress(raw) if encoding == "gzip" else raw
        auth = self.headers.get("Authorization")
        status = 200 if self.allowed(auth) else args.refuse_status
        count("requests")
        if status == 200:
            count("lines", body.count(b"\n"))
            if args.bodies and not args.quiet:
                with lock, open(args.bodies, "ab") as f:
                    f.write(body if body.endswith(b"\n") else body + b"\n")
        event(args, {"kind": "request", "path": self.path, "status": status, "auth": auth,
                     "encoding": encoding, "raw_len": len(raw), "len": len(body),
                     "conn": self.server_conn_id})
        self.send_response(status)
        self.send_header("Content-Length", "0")
        if args.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, args, tls):
        self.args, self.tls, self.next_id = args, tls, 0
        self.ctx = make_context(args) if tls else None
        super().__init__(("127.0.0.1", 0), Handler)

    def finish_request(self, request, client_address):
        with lock:
            self.next_id += 1
            conn_id = self.next_id
        count("connections")
        if self.tls:
            try:
                request.settimeout(30)
                request = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                count("handshake_errors")
                event(self.args, {"kind": "handshake_error", "conn": conn_id,
                                  "reason": getattr(e, "reason", None) or str(e)})
                request.close()
                return
            peer = request.getpeercert()
            cn = None
            for rdn in (peer or {}).get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
            if request.session_reused:
                count("resumed")
            event(self.args, {"kind": "conn", "conn": conn_id, "tls": True,
                              "resumed": request.session_reused, "version": request.version(),
                              "peer_cn": cn})
        else:
            event(self.args, {"kind": "conn", "conn": conn_id, "tls": False})
        handler = type("H", (Handler,), {"server_conn_id": conn_id,
                                         "timeout": self.args.idle_timeout})
        try:
            handler(request, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                request.close()
            except OSError:
                pass
            event(self.args, {"kind": "closed", "conn": conn_id})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--client-ca")
    p.add_argument("--max-version", choices=["1.2"])
    p.add_argument("--plain", action="store_true")
    p.add_argument("--also-plain", action="store_true")
    p.add_argument("--bearer-file")
    p.add_argument("--basic")
    p.add_argument("--refuse-status", type=int, default=401)
    p.add_argument("--close", action="store_true")
    p.add_argument("--idle-timeout", type=float)
    p.add_argument("--bodies")
    p.add_argument("--events")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if not args.plain and not (args.cert and args.key):
        p.error("--cert and --key, or --plain")

    servers = [Server(args, not args.plain)]
    if args.also_plain:
        servers.append(Server(args, False))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("PORT=%d" % servers[0].server_address[1])
    if args.also_plain:
        print("PLAIN_PORT=%d" % servers[1].server_address[1])
    sys.stdout.flush()

    stop = threading.Event()

    def on_hup(sig, frame):
        for s in servers:
            if s.tls:
                s.ctx = make_context(args)
        event(args, {"kind": "reload"})

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())
    signal.signal(signal.SIGINT, lambda s, f: stop.set())
    while not stop.is_set():
        time.sleep(0.05)
    with lock:
        print(" ".join("%s=%d" % kv for kv in counts.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
