"""The deployment node: an Elasticsearch-compatible search service over an encrypted store.

Its own program (`citadel node`): it imports only `citadel.kit`, `citadel.crypto`,
`citadel.errors` and its own modules, so it can run in a sandbox with nothing of the control
plane around it.
"""
