"""The node follows its security file: read at most once a second, re-parsed only when it
changed, a bad file keeps the last good settings, a removed one means no settings."""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from citadel.contract.messages import AuditSettings, JwtRealm, NodeSecurity
from citadel.node.security.config import EMPTY, SecurityConfig


class Ticks:
    """A monotonic clock the test moves (time is outside the system)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def settings(audience: str = "citadel:deployment:d-1") -> NodeSecurity:
    realm = JwtRealm(issuer="https://citadel.test", audience=audience, jwks='{"keys": []}')
    return NodeSecurity(jwt=realm, audit=AuditSettings(enabled=True))


def write(path: Path, value: NodeSecurity | str) -> None:
    tmp = path.with_name("tmp")
    tmp.write_text(value if isinstance(value, str) else value.model_dump_json())
    os.replace(tmp, path)


def test_no_file_is_the_empty_settings() -> None:
    assert SecurityConfig(None).current() == EMPTY
    assert EMPTY.jwt is None
    assert EMPTY.saml == ()
    assert not EMPTY.audit.enabled


def test_a_file_not_written_yet_is_the_empty_settings_until_it_is(tmp_path: Path) -> None:
    ticks, path = Ticks(), tmp_path / "security.json"
    config = SecurityConfig(path, monotonic=ticks)
    assert config.current() == EMPTY
    write(path, settings())
    ticks.now += 1
    assert config.current() == settings()


def test_a_changed_file_is_seen_at_most_once_a_second(tmp_path: Path) -> None:
    ticks, path = Ticks(), tmp_path / "security.json"
    write(path, settings("a"))
    config = SecurityConfig(path, monotonic=ticks)
    write(path, settings("b"))
    ticks.now += 0.5
    assert config.current().jwt.audience == "a"  # type: ignore[union-attr]
    ticks.now += 0.5
    assert config.current().jwt.audience == "b"  # type: ignore[union-attr]


def test_an_unchanged_file_gives_the_same_object(tmp_path: Path) -> None:
    ticks, path = Ticks(), tmp_path / "security.json"
    write(path, settings())
    config = SecurityConfig(path, monotonic=ticks)
    first = config.current()
    ticks.now += 5
    assert config.current() is first


def test_a_bad_file_keeps_the_last_good_settings_and_says_so_without_its_content(
    tmp_path: Path,
) -> None:
    ticks, path = Ticks(), tmp_path / "security.json"
    write(path, settings())
    config = SecurityConfig(path, monotonic=ticks)
    for bad in ('{"jwt": {"issuer": "x", "client_secret_like": "s3cret"', '{"jwt": {"issuer": 3}}'):
        write(path, bad)
        with structlog.testing.capture_logs() as logs:
            assert config.reload() == settings()
        assert [e["event"] for e in logs] == ["node.security_config_invalid"]
        assert "s3cret" not in str(logs)


def test_a_removed_file_means_no_settings(tmp_path: Path) -> None:
    ticks, path = Ticks(), tmp_path / "security.json"
    write(path, settings())
    config = SecurityConfig(path, monotonic=ticks)
    path.unlink()
    assert config.reload() == EMPTY


def test_listeners_hear_each_change_once(tmp_path: Path) -> None:
    ticks, path = Ticks(), tmp_path / "security.json"
    config = SecurityConfig(path, monotonic=ticks)
    heard: list[NodeSecurity] = []
    config.on_change(heard.append)
    write(path, settings("a"))
    config.reload()
    config.reload()
    write(path, settings("a"))  # rewritten, same settings
    config.reload()
    assert heard == [settings("a")]
