"""Alerts in: payloads read into one shape (`payloads`) and the rules that act on them (`rules`)."""
