"""Alarms: store, service, API, end to end."""
