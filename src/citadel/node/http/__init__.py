"""The node's HTTP layer: a small ASGI app with a route table, no web framework."""
