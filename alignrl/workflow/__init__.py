"""Orchestration: config checks against the schema and the registries, the job server."""
