"""Prometheus exporter for the Pan-STARRS IPP: pantasks servers, processing databases and nebulous storage."""

__version__ = "0.1.0"
