"""escalation."""
