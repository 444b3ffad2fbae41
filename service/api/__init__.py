"""The HTTP API: one blueprint per resource, its schemas and request helpers."""
