"""Settings, read from the environment (``CITADEL_`` prefix) and the command line.

There is no global instance: `load_settings()` builds one and the composition root
(`citadel.bootstrap`) passes what each part needs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can configure."""

    model_config = SettingsConfigDict(env_prefix="CITADEL_", extra="ignore")

    data_dir: Path = Path("./citadel-data")
    database_url: SecretStr | None = None
    """``postgresql+psycopg://...`` for PostgreSQL; unset means SQLCipher in the data dir."""

    api_host: str = "127.0.0.1"
    api_port: int = 8443
    public_hostname: str = "localhost"
    internal_port: int = 8444
    """The internal API (mTLS, for the allocator and gateway)."""
    deployment_domain: str = "citadel.localhost"
    """Deployments answer at ``<id>.<region>.<deployment_domain>`` on the gateway."""
    gateway_port: int = 9243

    session_idle_timeout_s: int = 60 * 60
    session_absolute_timeout_s: int = 12 * 60 * 60
    max_body_bytes: int = 1024 * 1024

    signin_account_failures: int = 5
    signin_ip_failures: int = 20
    signin_window_s: int = 15 * 60
    signin_max_lockout_s: int = 15 * 60

    trusted_proxies: list[str] = Field(default_factory=list)
    """CIDRs whose X-Forwarded-For is believed (empty: the TCP peer is the client)."""

    bootstrap_password_file: Path | None = None
    log_level: str = "info"

    @property
    def db_path(self) -> Path:
        """The SQLCipher control-plane database file."""
        return self.data_dir / "citadel.db"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
