"""Reliability reports (issue 15): database rows to core.reliability figures, and their exports."""
