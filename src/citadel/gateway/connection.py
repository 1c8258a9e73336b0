"""Who is on the other end of one downstream connection (anchors pitfall 10).

The socket peer is whoever opened the TCP connection: the client itself on the direct
listener, a load balancer on the PROXY listener. The *client* — the address and private-link
endpoint every traffic-filter decision, `X-Forwarded-For` and log line uses — is the PROXY
header's source and endpoint when a trusted balancer sent a PROXY command, else the socket
peer with no endpoint. It is worked out once, when the connection is accepted, and read from
this object everywhere after; nothing else reads the socket's address.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from citadel.gateway.proxy_protocol import ProxyHeader
from citadel.traffic_filters.matching import Client


class Listener(StrEnum):
    """Which listener accepted the connection."""

    DIRECT = "direct"
    PROXY = "proxy"


@dataclass(frozen=True, slots=True)
class ConnectionContext:
    """One downstream connection's peer and effective client; built once, when accepted."""

    peer_ip: str | None
    client: Client
    listener: Listener = Listener.DIRECT
    proxy_version: int | None = None

    @classmethod
    def direct(cls, peer_ip: str | None) -> ConnectionContext:
        """A connection accepted on the ordinary listener: the peer is the client."""
        return cls(peer_ip, Client.of(peer_ip), Listener.DIRECT, None)

    @classmethod
    def proxied(cls, peer_ip: str, header: ProxyHeader) -> ConnectionContext:
        """A connection from a trusted balancer: a PROXY command names the client (and its
        endpoint); a LOCAL command (health checks) leaves the balancer as the client."""
        if header.local:
            client = Client.of(peer_ip)
        else:
            client = Client.of(header.source_ip or peer_ip, header.endpoint_id)
        return cls(peer_ip, client, Listener.PROXY, header.version)

    @property
    def client_ip(self) -> str | None:
        return self.client.ip

    @property
    def endpoint_id(self) -> str | None:
        return self.client.endpoint

    def log_fields(self) -> dict[str, object]:
        """The connection's part of every log event: client, peer when different, listener."""
        fields: dict[str, object] = {
            "client_ip": self.client.ip,
            "endpoint_id": self.client.endpoint,
            "listener": self.listener.value,
        }
        if self.peer_ip != self.client.ip:
            fields["peer_ip"] = self.peer_ip
        return fields
