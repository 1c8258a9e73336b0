"""Search: the query DSL, its compilation to tantivy queries, sorting and paging.

The flow of one request::

    request.parse_search(body, params)        -> SearchRequest (dsl.parse_query for the query)
    store.indices.resolve_targets(...)        -> the index names the caller may read
    engine.query.QueryCompiler.compile(...)   -> one tantivy query per index (its own slots)
    service.search(...)                       -> hits merged over the shards, the response body

Everything but `service` is pure.
"""
