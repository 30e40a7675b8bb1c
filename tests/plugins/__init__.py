"""Pytest plugins for the real parts the tests start (one module per part)."""
