"""Ingest pipelines: parsing definitions, the processors, running them over documents."""
