"""An interpreter for the official clients' YAML tests (elastic/elasticsearch-clients-tests).

Runs in the official client's virtualenv (`.venv-es9`: `elasticsearch` and `pyyaml`), drives
the node through the client's named API methods, exactly as a user's program would:

    .venv-es9/bin/python tests/compat/yaml_runner.py --url URL --ca CA --password PW \\
        --suite DIR tests/get.yml tests/indices/alias.yml ...

Prints one JSON object per file on stdout (see `run_file`). After each file the node is wiped
through the API (indices, data streams, templates, pipelines, users, roles, API keys, ...);
when indices survive the wipe or the node stops answering, the runner exits with status 3
after printing that file's result, and the caller restarts the node and passes the remaining
files. The interpreter's pure parts (paths, matching, stash) import neither the client nor the
node, so `.venv` can load this module too.

The format is Elasticsearch's YAML REST test format
(rest-api-spec/src/yamlRestTest/resources/rest-api-spec/test/README.asciidoc) with the
clients-tests repository's file-level `requires: {stack, serverless, feature_flag}` document.
Semantics kept from Elasticsearch's runner: `setup` runs before and `teardown` after every
test (a teardown failure fails the test), regexes are `/.../` with comments mode (Java's
`Pattern.COMMENTS`, Python's `re.VERBOSE`), `match` on a map is equality, `is_true` is
"not null, not empty, not false, not 0" on the value's text, and a warning the test neither
expects (`warnings`) nor allows (`allowed_warnings`) fails the step.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

RESTART_NODE = 3

#: `skip: {features: ...}` names this runner implements.
SUPPORTED_FEATURES = frozenset(
    {
        "allowed_warnings",
        "allowed_warnings_regex",
        "warnings",
        "warnings_regex",
        "headers",
        "contains",
        "stash_in_path",
        "stash_in_key",
        "stash_path_replace",
        "embedded_stash_key",
        "arbitrary_key",
        "catch_unauthorized",
        "default_shards",
        "node_selector",
        "yaml",
    }
)

#: `catch:` keywords and the statuses they stand for (None: any 4xx/5xx).
CATCH_STATUSES: dict[str, set[int] | None] = {
    "bad_request": {400},
    "unauthorized": {401},
    "forbidden": {403},
    "missing": {404},
    "request_timeout": {408},
    "conflict": {409},
    "unavailable": {503},
    "request": None,
}

#: Path parameters the Python client names differently from the REST spec the suite uses.
CLIENT_PARAM_NAMES: dict[str, dict[str, str]] = {
    f"snapshot.{api}": {"repository": "name"}
    for api in (
        "create_repository",
        "delete_repository",
        "get_repository",
        "verify_repository",
        "cleanup_repository",
        "repository_analyze",
        "repository_verify_integrity",
    )
}

#: Users the wipe leaves in place: the runner's own and the test-cluster superuser.
KEPT_USERS = frozenset({"elastic", "x_pack_rest_user"})


class _Loader(yaml.SafeLoader):
    """YAML without the timestamp resolver: `2020-01-01` stays a string, as in the JSON sent."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of one test file (empty documents dropped)."""
    return [doc for doc in yaml.load_all(path.read_text(), Loader=_Loader) if doc]


def file_requires(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The file's `requires` document: which flavours (stack, serverless) the tests are for."""
    for doc in documents:
        if "requires" in doc:
            return dict(doc["requires"] or {})
    return {}


# -- failures -------------------------------------------------------------------------------


class StepFailed(Exception):
    """A step did not hold. `group` is what failures are counted by; `detail` is for humans."""

    def __init__(self, group: str, detail: str) -> None:
        super().__init__(group)
        self.group = group
        self.detail = detail


class NodeUnreachable(StepFailed):
    """The transport failed: connection refused, reset, or a timeout."""


class SkipTest(Exception):
    """A `skip` step asks for something this runner does not do."""


# -- stash and paths ------------------------------------------------------------------------

_EMBEDDED = re.compile(r"\$\{(\w+)\}")


@dataclass
class Stash:
    """`set` values, and the last response body (`$body`)."""

    values: dict[str, Any] = field(default_factory=dict)
    body: Any = None

    def resolve(self, value: Any) -> Any:
        """Replace `$name` and `${name}` in a value, recursively (keys too)."""
        if isinstance(value, str):
            if value == "$body":
                return self.body
            if value.startswith("$") and value[1:] in self.values:
                return self.values[value[1:]]
            whole = _EMBEDDED.fullmatch(value)
            if whole and whole.group(1) in self.values:
                return self.values[whole.group(1)]
            return _EMBEDDED.sub(
                lambda m: str(self.values.get(m.group(1), m.group(0))),
                value,
            )
        if isinstance(value, dict):
            return {self.resolve(k): self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


def parse_string_body(args: dict[str, Any]) -> dict[str, Any]:
    """A `body` given as a JSON string becomes its value(s), as Elasticsearch's runner parses
    it before substituting stashed values; several concatenated values become a list (bulk)."""
    body = args.get("body")
    if not isinstance(body, str):
        return args
    decoder, values, at = json.JSONDecoder(), [], 0
    try:
        while (at := _skip_space(body, at)) < len(body):
            value, at = decoder.raw_decode(body, at)
            values.append(value)
    except json.JSONDecodeError:
        return args
    if not values:
        return args
    return {**args, "body": values[0] if len(values) == 1 else values}


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def split_path(path: str) -> list[str]:
    """`a.b\\.c.0` -> ["a", "b.c", "0"]; an escaped dot belongs to the key."""
    parts, current, i = [], "", 0
    while i < len(path):
        char = path[i]
        if char == "\\" and i + 1 < len(path) and path[i + 1] == ".":
            current += "."
            i += 2
            continue
        if char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    parts.append(current)
    return parts


_MISSING = object()


def lookup(body: Any, path: str, stash: Stash) -> Any:
    """The value at `path` in `body`; None when any step is missing."""
    if path in ("$body", ""):
        return body
    value = body
    for part in split_path(path):
        part = str(stash.resolve(part))
        if isinstance(value, dict):
            if part == "_arbitrary_key_":
                value = next(iter(value), None)
                continue
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part):
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            value = _MISSING
        if value is _MISSING:
            return None
    return value


# -- comparisons ----------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def values_equal(expected: Any, actual: Any) -> bool:
    """Equality as Elasticsearch's runner sees it: numbers by value, maps and lists exactly."""
    if _is_number(expected) and _is_number(actual):
        return float(expected) == float(actual)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            values_equal(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            values_equal(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return bool(type(expected) is type(actual) and expected == actual)


def is_regex(value: Any) -> bool:
    return (
        isinstance(value, str) and len(value) >= 2 and value.startswith("/") and value.endswith("/")
    )


def regex_matches(pattern: str, actual: Any) -> bool:
    """`/.../` in comments mode, searched anywhere in the value's text."""
    text = actual if isinstance(actual, str) else _as_text(actual)
    return re.search(pattern[1:-1], text, re.VERBOSE) is not None


def _as_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def is_truthy(value: Any) -> bool:
    """Elasticsearch's is_true: not null, and its text is not "", "false" or "0"."""
    if value is None:
        return False
    text = _as_text(value)
    return text not in ("", "0") and text.lower() != "false"


def contains(actual: Any, expected: Any) -> bool:
    """`contains`: a list holding the value (a map: an element with those keys and values)."""
    if not isinstance(actual, list):
        return False
    if isinstance(expected, dict):
        return any(
            isinstance(item, dict)
            and all(k in item and values_equal(v, item[k]) for k, v in expected.items())
            for item in actual
        )
    return any(values_equal(expected, item) for item in actual)


def _number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_COMPARISONS = {
    "gt": lambda a, e: a > e,
    "gte": lambda a, e: a >= e,
    "lt": lambda a, e: a < e,
    "lte": lambda a, e: a <= e,
}


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_assertion(op: str, spec: Any, stash: Stash, api: str) -> None:
    """One assertion step against the last response; raises StepFailed when it does not hold."""
    body = stash.body
    if op in ("is_true", "is_false", "exists"):
        path = str(spec)
        actual = lookup(body, path, stash)
        holds = {
            "is_true": is_truthy(actual),
            "is_false": not is_truthy(actual),
            "exists": actual is not None,
        }[op]
        if not holds:
            raise StepFailed(f"{op} failed: {api} {path}", f"{path} is {_short(actual)}")
        return
    if not isinstance(spec, dict):
        raise StepFailed(f"runner: malformed {op}", _short(spec))
    for raw_path, raw_expected in spec.items():
        path = str(raw_path)
        actual = lookup(body, path, stash)
        expected = stash.resolve(raw_expected)
        if op == "match":
            holds = (
                regex_matches(expected, actual)
                if is_regex(expected) and not isinstance(raw_expected, dict)
                else values_equal(expected, actual)
            )
        elif op == "length":
            holds = isinstance(actual, (list, dict, str)) and len(actual) == expected
        elif op == "contains":
            holds = contains(actual, expected)
        elif op in _COMPARISONS:
            a, e = _number(actual), _number(expected)
            holds = a is not None and e is not None and _COMPARISONS[op](a, e)
        else:
            raise StepFailed(f"runner: unknown assertion {op}", path)
        if not holds:
            raise StepFailed(
                f"{op} failed: {api} {path}",
                f"{path}: expected {_short(expected)}, got {_short(actual)}",
            )


def should_skip(spec: dict[str, Any]) -> str | None:
    """Why a `skip` step skips the test, or None when the runner can run it."""
    features = spec.get("features", [])
    features = [features] if isinstance(features, str) else list(features)
    missing = [f for f in features if f not in SUPPORTED_FEATURES]
    if missing:
        return "unsupported features: " + ", ".join(missing)
    for key in ("version", "cluster_features", "awaits_fix", "known_issues", "os"):
        if key in spec:
            return f"skip on {key}: {spec.get('reason', spec[key])}"
    return None


# -- the client side ------------------------------------------------------------------------


@dataclass
class Request:
    """The HTTP request behind the last API call, as the client sent it."""

    method: str = ""
    path: str = ""
    template: str = ""


def path_template(path: str, parts: dict[str, Any]) -> str:
    """`/get_test/_doc/1` with parts {index, id} -> `/{index}/_doc/{id}`."""
    names: dict[str, str] = {}
    for name, value in parts.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        names[quote(str(value), safe=",*")] = "{" + name + "}"
    segments = path.split("?", 1)[0].split("/")
    return "/".join(names.get(segment, segment) for segment in segments)


def make_client(url: str, ca: str, password: str, timeout: float) -> tuple[Any, Request]:
    """The official client, recording each request's method and path."""
    from elasticsearch import Elasticsearch

    last = Request()

    class RecordingClient(Elasticsearch):
        def perform_request(self, method, path, **kwargs):  # type: ignore[no-untyped-def,override]
            last.method, last.path = method, path
            last.template = path_template(path, kwargs.get("path_parts") or {})
            return super().perform_request(method, path, **kwargs)

    client = RecordingClient(
        url,
        ca_certs=ca,
        basic_auth=("elastic", password),
        request_timeout=timeout,
        max_retries=0,
        retry_on_timeout=False,
    )
    return client, last


def _api_method(client: Any, name: str) -> Any:
    target = client
    for part in name.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise StepFailed(f"client: no API {name}", f"elasticsearch-py has no {name}()")
    return target


def _error_type(body: Any) -> tuple[str, str]:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("type", "")), str(error.get("reason", ""))
        if isinstance(error, str):
            return error, error
    return "", _short(body, 200)


def _warning_texts(caught: list[warnings.WarningMessage]) -> list[str]:
    from elasticsearch import ElasticsearchWarning

    return [str(w.message) for w in caught if issubclass(w.category, ElasticsearchWarning)]


def _catch_holds(catch: str, status: int, body: Any) -> bool:
    if catch in CATCH_STATUSES:
        statuses = CATCH_STATUSES[catch]
        return status >= 400 if statuses is None else status in statuses
    pattern = catch[1:-1] if is_regex(catch) else re.escape(catch)
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return status >= 400 and re.search(pattern, text) is not None


def execute_do(client: Any, last: Request, spec: dict[str, Any], stash: Stash) -> str:
    """One `do` step; stores the body in the stash and returns the API name."""
    from elasticsearch import ApiError, TransportError

    spec = dict(spec)
    catch = spec.pop("catch", None)
    headers = spec.pop("headers", None)
    expected_warnings = list(spec.pop("warnings", []) or [])
    allowed = list(spec.pop("allowed_warnings", []) or [])
    expected_regex = list(spec.pop("warnings_regex", []) or [])
    allowed_regex = list(spec.pop("allowed_warnings_regex", []) or [])
    spec.pop("node_selector", None)
    if len(spec) != 1:
        raise StepFailed("runner: malformed do", _short(spec))
    ((api, raw_args),) = spec.items()
    args = stash.resolve(parse_string_body(dict(raw_args or {})))
    if "from" in args:
        args["from_"] = args.pop("from")
    for spec_name, client_name in CLIENT_PARAM_NAMES.get(api, {}).items():
        if spec_name in args:
            args[client_name] = args.pop(spec_name)
    ignore = args.pop("ignore", None)
    target = client
    options: dict[str, Any] = {}
    if headers:
        options["headers"] = {str(k): str(v) for k, v in stash.resolve(headers).items()}
    if ignore is not None:
        options["ignore_status"] = ignore if isinstance(ignore, list) else [ignore]
    if options:
        target = client.options(**options)
    method = _api_method(target, api)
    last.method = last.path = last.template = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            response = method(**args)
        except ApiError as error:
            status, body = error.meta.status, error.body
            stash.body = body
            if catch is not None and _catch_holds(catch, status, body):
                return api
            etype, reason = _error_type(body)
            where = f"{last.method} {last.template}"
            if catch is not None:
                raise StepFailed(
                    f"expected catch {catch}, got {status} {etype}: {api}",
                    f"{where}: {reason}",
                ) from None
            raise StepFailed(
                f"{etype or status}: {api} ({where})",
                f"{status} {where} [{last.path}]: {reason}",
            ) from None
        except TransportError as error:
            raise NodeUnreachable(f"transport error: {api}", repr(error)) from None
        except (TypeError, ValueError) as error:
            if catch == "param":
                return api
            raise StepFailed(f"client: {api} rejected the arguments", str(error)) from None
    if catch is not None and catch != "param" and not ignore:
        raise StepFailed(
            f"expected catch {catch}, got {_status(response)}: {api}",
            f"{last.method} {last.template} succeeded",
        )
    stash.body = _response_body(response)
    seen = _warning_texts(caught)
    _check_warnings(api, seen, expected_warnings, allowed, expected_regex, allowed_regex)
    return api


def _status(response: Any) -> int | str:
    meta = getattr(response, "meta", None)
    return meta.status if meta is not None else "success"


def _response_body(response: Any) -> Any:
    from elastic_transport import HeadApiResponse

    if isinstance(response, (HeadApiResponse, bool)):  # exists APIs; ping() returns a bool
        return bool(response)
    body = response.body
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body


def _check_warnings(
    api: str,
    seen: list[str],
    expected: list[str],
    allowed: list[str],
    expected_regex: list[str],
    allowed_regex: list[str],
) -> None:
    missing = [w for w in expected if w not in seen]
    missing += [p for p in expected_regex if not any(re.search(p, w) for w in seen)]
    if missing:
        raise StepFailed(f"warning not sent: {api}", "; ".join(missing))
    unexpected = [
        w
        for w in seen
        if w not in expected
        and w not in allowed
        and not any(re.search(p, w) for p in expected_regex + allowed_regex)
    ]
    if unexpected:
        raise StepFailed(f"unexpected warning: {api}", "; ".join(unexpected))


# -- running a file -------------------------------------------------------------------------


def run_steps(client: Any, last: Request, steps: list[dict[str, Any]], stash: Stash) -> None:
    """Run one section's steps in order; the first failure stops it."""
    api = "-"
    for step in steps or []:
        ((op, spec),) = step.items()
        if op == "do":
            api = execute_do(client, last, spec, stash)
        elif op == "set":
            for path, name in spec.items():
                stash.values[str(name)] = lookup(stash.body, str(path), stash)
        elif op == "skip":
            reason = should_skip(spec or {})
            if reason:
                raise SkipTest(reason)
        elif op == "requires":
            raise SkipTest(f"requires {spec}")
        else:
            check_assertion(op, spec, stash, api)


def run_test(
    client: Any,
    last: Request,
    name: str,
    steps: list[dict[str, Any]],
    setup: list[dict[str, Any]],
    teardown: list[dict[str, Any]],
) -> dict[str, Any]:
    """setup, the test, teardown (always); the first failure is the test's reason."""
    stash = Stash()
    result: dict[str, Any] = {"name": name, "status": "pass"}
    failure: tuple[str, StepFailed] | None = None
    try:
        for phase, section in (("setup", setup), ("test", steps)):
            try:
                run_steps(client, last, section, stash)
            except StepFailed as error:
                failure = (phase, error)
                break
            except Exception as error:  # a runner bug or an unexpected client answer
                failure = (phase, StepFailed(f"runner: {type(error).__name__}", repr(error)))
                break
    except SkipTest as skip:
        result.update(status="skip", reason={"group": "skipped", "detail": str(skip)})
    try:
        run_steps(client, last, teardown, stash)
    except StepFailed as error:
        failure = failure or ("teardown", error)
    except SkipTest:
        pass
    except Exception as error:
        failure = failure or (
            "teardown",
            StepFailed(f"runner: {type(error).__name__}", repr(error)),
        )
    if failure and result["status"] != "skip":
        phase, error = failure
        result.update(
            status="fail",
            phase=phase,
            reason={"group": error.group, "detail": f"{phase}: {error.detail}"},
            unreachable=isinstance(error, NodeUnreachable),
        )
    return result


def run_file(client: Any, last: Request, suite: Path, path: Path) -> dict[str, Any]:
    """All tests of one file: `{file, requires, tests: [{name, status, reason?}]}`."""
    documents = load_documents(path)
    requires = file_requires(documents)
    setup: list[dict[str, Any]] = []
    teardown: list[dict[str, Any]] = []
    tests: list[tuple[str, list[dict[str, Any]]]] = []
    for doc in documents:
        for key, value in doc.items():
            if key == "setup":
                setup = value or []
            elif key == "teardown":
                teardown = value or []
            elif key != "requires":
                tests.append((str(key), value or []))
    results = []
    for name, steps in tests:
        if requires.get("feature_flag"):
            reason = f"behind feature flag {requires['feature_flag']}"
            results.append(
                {"name": name, "status": "skip", "reason": {"group": "skipped", "detail": reason}}
            )
            continue
        results.append(run_test(client, last, name, steps, setup, teardown))
    return {"file": str(path.relative_to(suite)), "requires": requires, "tests": results}


# -- wiping the node between files ----------------------------------------------------------


def _names(body: Any, key: str | None, name_field: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, definition) pairs from a listing: a map by name, or a list of objects."""
    if key is not None:
        body = body.get(key, []) if isinstance(body, dict) else []
    if isinstance(body, dict):
        return [(str(k), v if isinstance(v, dict) else {}) for k, v in body.items()]
    if isinstance(body, list):
        return [
            (str(item[name_field]), item)
            for item in body
            if isinstance(item, dict) and name_field in item
        ]
    return []


def _deletable(name: str, definition: dict[str, Any]) -> bool:
    meta = definition.get("_meta") or definition.get("metadata") or {}
    reserved = isinstance(meta, dict) and (meta.get("_reserved") or meta.get("managed"))
    nested = definition.get("index_template") or definition.get("component_template") or {}
    nested_meta = nested.get("_meta") or {} if isinstance(nested, dict) else {}
    return not (name.startswith(".") or reserved or nested_meta.get("managed"))


#: (listing path, key holding the list or None, name field, delete path with {name}).
WIPE_LISTINGS = (
    ("/_index_template", "index_templates", "name", "/_index_template/{name}"),
    ("/_component_template", "component_templates", "name", "/_component_template/{name}"),
    ("/_template", None, "name", "/_template/{name}"),
    ("/_ingest/pipeline", None, "id", "/_ingest/pipeline/{name}"),
    ("/_security/user", None, "username", "/_security/user/{name}"),
    ("/_security/role", None, "name", "/_security/role/{name}"),
    ("/_synonyms", "results", "id", "/_synonyms/{name}"),
    ("/_query_rules", "results", "ruleset_id", "/_query_rules/{name}"),
    (
        "/_application/search_application",
        "results",
        "name",
        "/_application/search_application/{name}",
    ),
    ("/_enrich/policy", "policies", "name", "/_enrich/policy/{name}"),
    ("/_ilm/policy", None, "name", "/_ilm/policy/{name}"),
    ("/_transform", "transforms", "id", "/_transform/{name}?force=true"),
    ("/_snapshot", None, "name", "/_snapshot/{name}"),
)


def _user_indices(client: Any) -> list[str]:
    response = client.options(
        ignore_status=list(range(400, 600)), request_timeout=10
    ).perform_request(
        "GET",
        "/_cat/indices",
        params={"format": "json", "h": "index", "expand_wildcards": "all"},
        headers={"accept": "application/json"},
    )
    rows = response.body if isinstance(response.body, list) else []
    return [
        row["index"] for row in rows if isinstance(row, dict) and not row["index"].startswith(".")
    ]


def wipe(client: Any) -> list[str]:
    """Delete what the tests may have left behind; returns the indices that survived."""
    quiet = client.options(ignore_status=list(range(400, 600)), request_timeout=10)
    accept = {"accept": "application/json", "content-type": "application/json"}
    quiet.perform_request(
        "DELETE", "/_data_stream/*", params={"expand_wildcards": "all"}, headers=accept
    )
    for index in _user_indices(client):
        quiet.perform_request("DELETE", "/" + quote(index, safe=""), headers=accept)
    for listing, key, name_field, delete in WIPE_LISTINGS:
        response = quiet.perform_request("GET", listing, headers=accept)
        if response.meta.status != 200:
            continue
        for name, definition in _names(response.body, key, name_field):
            if name in KEPT_USERS or not _deletable(name, definition):
                continue
            quiet.perform_request(
                "DELETE", delete.format(name=quote(name, safe="")), headers=accept
            )
    quiet.perform_request("DELETE", "/_security/api_key", body={"name": "*"}, headers=accept)
    return _user_indices(client)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--suite", required=True, type=Path, help="the clients-tests checkout")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("files", nargs="+", help="test files, relative to --suite")
    args = parser.parse_args(argv)
    from elasticsearch import TransportError

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    client, last = make_client(args.url, args.ca, args.password, args.timeout)
    for name in args.files:
        result = run_file(client, last, args.suite, args.suite / name)
        restart = any(t.get("unreachable") for t in result["tests"])
        try:
            result["residue"] = wipe(client)
        except TransportError as error:
            result["residue"], restart = [repr(error)], True
        restart = restart or bool(result["residue"])
        print(json.dumps(result), flush=True)
        if restart:
            return RESTART_NODE
    return 0


if __name__ == "__main__":
    sys.exit(main())
