"""Shared pytest set-up: each real part (MariaDB, sshd, promtool…) lives in its own plugin module."""

pytest_plugins = [
    "plugins.tools",
    "plugins.golden",
    "plugins.mariadb",
    "plugins.sshd",
    "plugins.executor",
]
