"""The Statuspage-compatible management API: `/v1/pages/<page id>/...` (docs/migrating.md)."""
