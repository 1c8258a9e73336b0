"""What the API and the console share at the HTTP edge: the session cookie and its checks,
CSRF, the unit of work of a request, and the audit of refused requests.

Both edges import this package; neither imports the other (import-linter: "The API and the
console are independent edges"). The application that serves both is assembled above them,
in `citadel.server`.
"""
