"""MariaDB fixtures (filled in by the simulated-site work)."""
