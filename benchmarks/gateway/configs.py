"""Configuration texts for nginx (backend and proxy) and haproxy (proxy and PROXY-v2 relay).

Every proxy terminates TLS with the same ECDSA P-256 certificate, keeps downstream and
upstream connections alive without a request cap, logs nothing per request, and enforces the
same N source CIDRs as a tree lookup (haproxy ``src -f``, nginx ``geo``). Processes run in
the foreground (``daemon off`` / ``-db``) so the harness owns and measures them.
"""

from __future__ import annotations

from pathlib import Path

BODY = '{"name":"static","tagline":"You Know, for Search"}'


def _nginx_prelude(work: Path, workers: int) -> str:
    return f"""\
worker_processes {workers};
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
"""


def nginx_backend(
    work: Path,
    *,
    plain_port: int,
    tls_port: int,
    unix_socket: Path,
    cert: Path,
    key: Path,
    client_ca: Path,
) -> str:
    """The fixed backend: plain HTTP, HTTPS, and mTLS on a unix socket (as a node listens)."""
    location = f"location / {{ default_type application/json; return 200 '{BODY}'; }}"
    return (
        _nginx_prelude(work, 1)
        + f"""\
  server {{
    listen 127.0.0.1:{plain_port} backlog=4096;
    listen 127.0.0.1:{tls_port} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    {location}
  }}
  server {{
    listen unix:{unix_socket} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_verify_client on;
    ssl_client_certificate {client_ca};
    {location}
  }}
}}
"""
    )


def nginx_proxy(
    work: Path,
    *,
    port: int,
    cert: Path,
    key: Path,
    geo_file: Path,
    upstream_port: int,
    workers: int,
) -> str:
    """nginx as the proxy: TLS, a ``geo`` tree of N CIDRs, a keep-alive upstream pool."""
    return (
        _nginx_prelude(work, workers)
        + f"""\
  geo $allowed {{ default 0; include {geo_file}; }}
  upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_session_cache shared:SSL:10m;
    location / {{
      if ($allowed = 0) {{ return 403; }}
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""
    )


def haproxy_proxy(
    *,
    port: int,
    server_pem: Path,
    acl_file: Path,
    threads: int,
    upstream: str,
    accept_proxy: bool = False,
) -> str:
    """haproxy as the proxy: TLS, ``src`` ACL tree of N CIDRs, connection reuse upstream.
    `upstream` is the ``server`` line's address and options."""
    proxy = " accept-proxy" if accept_proxy else ""
    return f"""\
global
  nbthread {threads}
  maxconn 9000
  tune.ssl.default-dh-param 2048

defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  option http-keep-alive

frontend fe
  bind 127.0.0.1:{port} ssl crt {server_pem} alpn http/1.1{proxy}
  acl allowed src -f {acl_file}
  http-request deny deny_status 403 unless allowed
  default_backend be

backend be
  http-reuse always
  server s1 {upstream} maxconn 1000
"""


def haproxy_relay(*, port: int, target_port: int) -> str:
    """A TCP load balancer in front that opens each connection with a PROXY v2 header."""
    return f"""\
global
  nbthread 1
  maxconn 9000

defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s

frontend relay
  bind 127.0.0.1:{port}
  default_backend targets

backend targets
  server t1 127.0.0.1:{target_port} send-proxy-v2
"""
