"""The control plane's store of each deployment's security audit trail: the Elasticsearch-style
events its node ships, what the node records (settings), reading, export and retention."""
