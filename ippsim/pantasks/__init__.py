"""Simulated pantasks servers: per-server state directories, a faithful pantasks_client, time stepping."""
