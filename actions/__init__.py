"""IPP action service: Alertmanager webhook and the czar's previewed, authenticated, audited actions."""

__version__ = "0.1.0"
