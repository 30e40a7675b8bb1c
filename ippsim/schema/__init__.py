"""SQL schemas of the simulated IPP site (gpc1-style processing DB, nebulous)."""
