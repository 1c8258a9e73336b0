"""The HTTP edge: the Cloud API under /api/v1 (FastAPI), thin routes over the services."""
