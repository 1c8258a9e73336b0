"""`--log-level`: one function configures every process; polls show at debug only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from citadel.cli.supervise import runtime_children

# In a process of its own: the configuration is global (and loggers cache it).
SCRIPT = """
import logging, sys
from citadel.log import configure_logging, get_logger
configure_logging(sys.argv[1])
log = get_logger("quiet")
log.debug("poll.unchanged")
log.info("state.changed")
logging.getLogger("httpx").info("HTTP Request: GET /internal/v1/routes 304")
"""


def _logged(level: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, level], capture_output=True, text=True, check=True
    )
    return done.stderr


def test_at_info_a_change_logs_and_a_poll_does_not():
    lines = _logged("info").splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["state.changed"]


def test_at_debug_the_polls_and_the_http_client_show():
    logged = _logged("debug")
    assert "poll.unchanged" in logged
    assert "state.changed" in logged
    assert "HTTP Request: GET /internal/v1/routes 304" in logged


def test_the_level_is_case_insensitive_and_warning_hides_info():
    assert _logged("WARNING") == ""


def test_an_unknown_level_is_refused():
    with pytest.raises(subprocess.CalledProcessError) as refused:
        _logged("loud")
    assert "is not one of debug, info, warning, error" in refused.value.stderr


def test_citadel_up_gives_its_children_its_level():
    children = runtime_children(
        Path("/data"),
        host="127.0.0.1",
        gateway_port=9243,
        domain="citadel.localhost",
        regions=["local"],
        log_level="debug",
    )
    for child in children:
        at = child.args.index("--log-level")
        assert child.args[at + 1] == "debug", child.name
