"""Search: the query DSL, its compilation to SQL over the store, and sorting.

The flow of one request::

    request.parse_search(body, params)        -> SearchRequest (dsl.parse_query for the query)
    store.indices.resolve_targets(...)        -> the index names the caller may read
    catalog.load(conn, names)                 -> each index's field kinds and FTS5 tables
    compile.relation(query, index, ...)       -> SQL yielding (doc, score), one per index
    service.search(...)                       -> the response body

Everything but `catalog` and `service` is pure.
"""
