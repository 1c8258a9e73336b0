"""Script contexts and languages: what ``_script_context`` and ``_script_language`` answer. Pure.

Elasticsearch lists every context and language its plugins bring. This node answers what it
can run: mustache in the ``template`` context (search templates, ``_render/template``). Painless
scripts can be stored (``PUT _scripts/{id}`` with a context Elasticsearch knows) but no
Painless runs here beyond the few ``ctx._source`` statements of ``_update_by_query`` and
``_reindex``, so neither Painless nor its contexts are listed.
"""

from __future__ import annotations

from typing import Any

#: Elasticsearch 8's script context names (``PUT _scripts/{id}/{context}`` accepts these).
CONTEXT_NAMES = frozenset(
    {
        "aggregation_selector",
        "aggs",
        "aggs_combine",
        "aggs_init",
        "aggs_map",
        "aggs_reduce",
        "analysis",
        "boolean_field",
        "bucket_aggregation",
        "composite_field",
        "date_field",
        "double_field",
        "field",
        "filter",
        "geo_point_field",
        "ingest",
        "ingest_template",
        "interval",
        "ip_field",
        "keyword_field",
        "long_field",
        "moving-function",
        "number_sort",
        "painless_test",
        "processor_conditional",
        "reindex",
        "score",
        "script_heuristic",
        "similarity",
        "similarity_weight",
        "string_sort",
        "template",
        "terms_set",
        "update",
        "update_by_query",
        "watcher_condition",
        "watcher_transform",
        "xpack_template",
    }
)
#: The contexts whose scripts are templates (the only ones mustache compiles for).
TEMPLATE_CONTEXTS = frozenset({"template", "ingest_template", "xpack_template"})


def script_contexts() -> dict[str, Any]:
    """``GET _script_context``: the contexts this node runs scripts in."""
    return {
        "contexts": [
            {
                "name": "template",
                "methods": [
                    {"name": "execute", "return_type": "java.lang.String", "params": []},
                    {"name": "getParams", "return_type": "java.util.Map", "params": []},
                ],
            }
        ]
    }


def script_languages() -> dict[str, Any]:
    """``GET _script_language``: inline and stored scripts, mustache for templates."""
    return {
        "types_allowed": ["inline", "stored"],
        "language_contexts": [{"language": "mustache", "contexts": ["template"]}],
    }
