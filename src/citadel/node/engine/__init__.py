"""The node's search engine: one tantivy index per Elasticsearch index, a translog, refresh."""
