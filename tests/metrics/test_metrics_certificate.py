"""The metrics listeners' server certificates, from the platform CA."""

from __future__ import annotations

import socket
import ssl
import threading

from citadel.pki.metrics import ensure_metrics_certificate, metrics_tls_context


def test_a_metrics_certificate_verifies_against_the_platform_ca_by_every_local_name(services):
    made = ensure_metrics_certificate(
        services.settings.data_dir, services.keyring, "allocator", host="127.0.0.1"
    )
    server_ctx = metrics_tls_context(made)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_twice() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True):
                pass

    thread = threading.Thread(target=accept_twice, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(made.ca_file))
    for name in ("localhost", "127.0.0.1"):
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client_ctx.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.getpeercert()
    thread.join(timeout=5)
    listener.close()


def test_the_certificate_is_kept_until_its_names_change(services):
    data_dir, keyring = services.settings.data_dir, services.keyring
    first = ensure_metrics_certificate(data_dir, keyring, "gateway", host="127.0.0.1")
    pem = first.cert_file.read_bytes()
    assert ensure_metrics_certificate(data_dir, keyring, "gateway", host="0.0.0.0")
    assert first.cert_file.read_bytes() == pem  # a wildcard adds no name
    ensure_metrics_certificate(data_dir, keyring, "gateway", host="10.1.2.3")
    assert first.cert_file.read_bytes() != pem
    assert oct(first.key_file.stat().st_mode & 0o777) == "0o600"
