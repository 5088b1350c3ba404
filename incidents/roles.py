"""Roles are Django groups with these exact names (created by a migration)."""

VIEWER = "viewer"
ENGINEER = "engineer"
MANAGER = "manager"
ROLES = (VIEWER, ENGINEER, MANAGER)

# What each role may do, cumulatively.
_RANK = {VIEWER: 1, ENGINEER: 2, MANAGER: 3}


def user_rank(user) -> int:
    """0 for no role; a superuser counts as manager."""
    if not user or not user.is_authenticated or not user.is_active:
        return 0
    if user.is_superuser:
        return _RANK[MANAGER]
    cached = getattr(user, "_orion_rank", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = max((_RANK[n] for n in names if n in _RANK), default=0)
        user._orion_rank = cached
    return cached


def has_role(user, role: str) -> bool:
    return user_rank(user) >= _RANK[role]


def role_of(user) -> str | None:
    rank = user_rank(user)
    return next((name for name, value in _RANK.items() if value == rank), None)
