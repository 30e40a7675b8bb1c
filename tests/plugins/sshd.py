"""sshd fixtures (filled in by the pantasks transport work)."""
