"""Schedules (placeholder; filled in below)."""
