"""Imports from other status page services: read their APIs, write through the publishing core."""
