"""Template routes: ``_index_template`` (with ``_simulate``), ``_component_template``, the
legacy ``_template``, and ``_cat/templates``."""

from __future__ import annotations

from typing import Any

from citadel.node.errors import IndexNotFound
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.services import NodeServices
from citadel.node.store import catalog as meta
from citadel.node.store import mapping as mp
from citadel.node.store import templates
from citadel.node.store.indices import nest_settings

ACKNOWLEDGED = {"acknowledged": True}
TEXT = "text/plain; charset=UTF-8"
READ = cluster("monitor")
WRITE = cluster("manage")


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    r = TemplateRoutes(services)
    for method in ("PUT", "POST"):
        router.add(method, "/_index_template/{name}", r.put_index_template, WRITE)
        router.add(method, "/_component_template/{name}", r.put_component_template, WRITE)
        router.add(method, "/_template/{name}", r.put_legacy, WRITE)
    router.add("GET", "/_index_template", r.get_index_templates, READ)
    router.add("GET", "/_index_template/{name}", r.get_index_templates, READ)
    router.add("DELETE", "/_index_template/{name}", r.delete_index_templates, WRITE)
    router.add("POST", "/_index_template/_simulate_index/{name}", r.simulate_index, READ)
    router.add("POST", "/_index_template/_simulate", r.simulate, READ)
    router.add("POST", "/_index_template/_simulate/{name}", r.simulate, READ)
    router.add("GET", "/_component_template", r.get_component_templates, READ)
    router.add("GET", "/_component_template/{name}", r.get_component_templates, READ)
    router.add("DELETE", "/_component_template/{name}", r.delete_component_templates, WRITE)
    router.add("GET", "/_template", r.get_legacy, READ)
    router.add("GET", "/_template/{name}", r.get_legacy, READ)
    router.add("DELETE", "/_template/{name}", r.delete_legacy, WRITE)
    router.add("GET", "/_cat/templates", r.cat, READ)
    router.add("GET", "/_cat/templates/{name}", r.cat, READ)


def _template_view(part: dict[str, Any], *, flat: bool) -> dict[str, Any]:
    out = dict(part)
    if "settings" in out and not flat:
        out["settings"] = nest_settings(out["settings"])
    return out


class TemplateRoutes:
    """Handlers over the catalog's templates."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    # -- composable --------------------------------------------------------------------------

    def put_index_template(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_index_template/{name}`` (``create=true``: only when new)."""
        body = request.json(required=True)
        with self.services.store.write() as conn:
            templates.put_index_template(
                conn, request.params["name"], body, create=request.flag("create")
            )
        return NodeResponse(body=ACKNOWLEDGED)

    def get_index_templates(self, request: NodeRequest) -> NodeResponse:
        """``GET /_index_template[/{name}]`` (and ``HEAD``)."""
        flat = request.flag("flat_settings")
        with self.services.store.read() as conn:
            found = templates.select(
                conn, meta.INDEX_TEMPLATE, request.params.get("name"), "index template"
            )
        out = []
        for name, spec in found.items():
            shown = dict(spec)
            if "template" in shown:
                shown["template"] = _template_view(shown["template"], flat=flat)
            out.append({"name": name, "index_template": shown})
        return NodeResponse(body={"index_templates": out})

    def delete_index_templates(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_index_template/{name}``."""
        with self.services.store.write() as conn:
            templates.delete_index_templates(conn, request.params["name"])
        return NodeResponse(body=ACKNOWLEDGED)

    def simulate_index(self, request: NodeRequest) -> NodeResponse:
        """``POST /_index_template/_simulate_index/{name}``: what index `name` would get."""
        name = request.params["name"]
        mp.validate_index_name(name)
        with self.services.store.read() as conn:
            found = templates.for_index(conn, name)
            if found is None:
                return NodeResponse(body={})
            composed = templates.resolve(conn, found[1])
            overlapping = [
                o
                for o in templates.overlapping(conn, found[0], found[1]["index_patterns"])
                if templates.matches(o["index_patterns"], name)
            ]
        return NodeResponse(
            body={"template": templates.view_part(composed), "overlapping": overlapping}
        )

    def simulate(self, request: NodeRequest) -> NodeResponse:
        """``POST /_index_template/_simulate[/{name}]``: a template (the body's, or a stored
        one) composed with its components, and the templates it overlaps."""
        name = request.params.get("name")
        body = request.json()
        with self.services.store.read() as conn:
            if body:
                spec = templates.index_template(body)
            elif name is not None:
                stored = meta.get(conn, meta.INDEX_TEMPLATE, name)
                if stored is None:
                    raise IndexNotFound(name)
                spec = stored
            else:
                spec = templates.index_template(body)
            composed = templates.resolve(conn, spec)
            overlapping = templates.overlapping(conn, name, spec["index_patterns"])
        return NodeResponse(
            body={"template": templates.view_part(composed), "overlapping": overlapping}
        )

    # -- component ---------------------------------------------------------------------------

    def put_component_template(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_component_template/{name}``."""
        body = request.json(required=True)
        with self.services.store.write() as conn:
            templates.put_component_template(
                conn, request.params["name"], body, create=request.flag("create")
            )
        return NodeResponse(body=ACKNOWLEDGED)

    def get_component_templates(self, request: NodeRequest) -> NodeResponse:
        """``GET /_component_template[/{name}]`` (and ``HEAD``)."""
        flat = request.flag("flat_settings")
        with self.services.store.read() as conn:
            found = templates.select(
                conn, meta.COMPONENT_TEMPLATE, request.params.get("name"), "component template"
            )
        out = []
        for name, spec in found.items():
            shown = {**spec, "template": _template_view(spec["template"], flat=flat)}
            out.append({"name": name, "component_template": shown})
        return NodeResponse(body={"component_templates": out})

    def delete_component_templates(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_component_template/{name}``."""
        with self.services.store.write() as conn:
            templates.delete_component_templates(conn, request.params["name"])
        return NodeResponse(body=ACKNOWLEDGED)

    # -- legacy ------------------------------------------------------------------------------

    def put_legacy(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_template/{name}`` (legacy templates, applied when no composable one
        matches)."""
        body = request.json(required=True)
        with self.services.store.write() as conn:
            templates.put_legacy_template(
                conn, request.params["name"], body, create=request.flag("create")
            )
        return NodeResponse(body=ACKNOWLEDGED)

    def get_legacy(self, request: NodeRequest) -> NodeResponse:
        """``GET /_template[/{name}]``; an unknown name is a 404 with ``{}``."""
        flat = request.flag("flat_settings")
        with self.services.store.read() as conn:
            try:
                found = templates.select(
                    conn, meta.LEGACY_TEMPLATE, request.params.get("name"), "index template"
                )
            except templates.ResourceNotFound:
                return NodeResponse(status=404, body={})
        body = {}
        for name, spec in found.items():
            shown = {
                "order": spec.get("order", 0),
                "index_patterns": spec["index_patterns"],
                "settings": _template_view(spec, flat=flat).get("settings", {}),
                "mappings": spec.get("mappings", {}),
                "aliases": spec.get("aliases", {}),
            }
            if "version" in spec:
                shown["version"] = spec["version"]
            body[name] = shown
        return NodeResponse(body=body)

    def delete_legacy(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_template/{name}``."""
        with self.services.store.write() as conn:
            templates.delete_legacy_templates(conn, request.params["name"])
        return NodeResponse(body=ACKNOWLEDGED)

    # -- _cat --------------------------------------------------------------------------------

    def cat(self, request: NodeRequest) -> NodeResponse:
        """``_cat/templates``: name, index_patterns, order, version, composed_of."""
        names = request.params.get("name")
        with self.services.store.read() as conn:
            legacy = templates.select_quietly(conn, meta.LEGACY_TEMPLATE, names)
            composable = templates.select_quietly(conn, meta.INDEX_TEMPLATE, names)
        rows = []
        for name, spec in legacy.items():
            rows.append(_cat_row(name, spec, str(spec.get("order", 0)), ""))
        for name, spec in composable.items():
            composed = "[" + ", ".join(spec.get("composed_of", [])) + "]"
            rows.append(_cat_row(name, spec, str(spec.get("priority", 0)), composed))
        rows.sort(key=lambda r: r["name"])
        if request.query.get("format") == "json":
            return NodeResponse(body=rows)
        columns = ["name", "index_patterns", "order", "version", "composed_of"]
        lines = ([columns] if request.flag("v") else []) + [[r[c] for c in columns] for r in rows]
        if not lines:
            return NodeResponse(body="", content_type=TEXT)
        widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
        text = "".join(
            " ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n"
            for line in lines
        )
        return NodeResponse(body=text, content_type=TEXT)


def _cat_row(name: str, spec: dict[str, Any], order: str, composed: str) -> dict[str, str]:
    version = spec.get("version")
    return {
        "name": name,
        "index_patterns": "[" + ", ".join(spec["index_patterns"]) + "]",
        "order": order,
        "version": "" if version is None else str(version),
        "composed_of": composed,
    }
