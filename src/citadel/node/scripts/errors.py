"""The scripts area's errors, in Elasticsearch's shape."""

from __future__ import annotations

from citadel.node.errors import EsError


class ScriptException(EsError):
    """A template that does not compile or render (Elasticsearch's ``script_exception``)."""

    type = "script_exception"
    status = 400
