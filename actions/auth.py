"""Who is asking: a logged-in operator (users file of werkzeug hashes) or a trusted reverse-proxy header."""

from __future__ import annotations

import re

from flask import Request, session
from werkzeug.security import check_password_hash

from actions.config import ActionsConfig

_USER = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
# checked against when the name is unknown, so a wrong name costs the same time as a wrong password
_DUMMY_HASH = "scrypt:32768:8:1$abcdefghijklmnop$" + "0" * 128


def check_login(config: ActionsConfig, username: str, password: str) -> str | None:
    """The operator's name when the password matches their hash, else None."""
    users = dict(config.actions.users)
    if not isinstance(username, str) or not isinstance(password, str) or not _USER.match(username):
        return None
    digest = users.get(username, _DUMMY_HASH)
    try:
        ok = check_password_hash(digest, password)
    except (ValueError, TypeError):
        ok = False
    return username if ok and username in users else None


def current_user(config: ActionsConfig, request: Request) -> str | None:
    """The logged-in operator, or the trusted proxy's user header when configured."""
    header = config.actions.trusted_user_header
    if header:
        value = request.headers.get(header, "")
        if _USER.match(value):
            return value
    user = session.get("user")
    return user if isinstance(user, str) and user in dict(config.actions.users) else None
