"""The control plane as a token issuer for its members' access to deployments (ADR 27).

`keys` holds the RS256 signing keys (private halves sealed by the barrier) and the JWK Set
nodes verify against; `rotation` decides, as a pure function, when a key is made, retired and
deleted; `claims` maps a member's or API key's role assignments to the stack roles a token
carries on one deployment; `tokens` signs them.
"""
