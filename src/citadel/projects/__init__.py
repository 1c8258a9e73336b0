"""Serverless projects (issue 19, ADR 28 and ADR 29): Elasticsearch, Observability and Security
projects with no sizing, stopped when idle and woken by the gateway on the next request.

A project runs as a runtime instance: a row of the deployments table with ``kind = 'project'``
and the project's id, so the allocator, the sandbox, the encrypted volume, the node
certificate and the gateway serve it exactly as they serve a deployment (ADR 28). This package
owns what only a project has: its type, alias and endpoints, its type-specific settings, its
phase and its activity.
"""
