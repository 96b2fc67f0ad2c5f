"""Alerts in: integrations (who may send), and receiving alerts (record, deduplicate, act)."""
