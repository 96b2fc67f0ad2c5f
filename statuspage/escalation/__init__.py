"""Escalation paths: who hears about an incident, when, and until when."""
