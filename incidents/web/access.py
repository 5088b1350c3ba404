"""Who may open a page: anonymous people sign in, people without a role get a 403 page."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from incidents import roles

NO_ROLE_MESSAGE = "You have no Orion Ops role yet. Ask an administrator to add you to viewer, engineer or manager."


def role_required(role: str):
    """Decorate a view: anonymous → login page; no role or too low a role → 403 page."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if roles.user_rank(user) == 0:
                raise PermissionDenied(NO_ROLE_MESSAGE)
            if not roles.has_role(user, role):
                raise PermissionDenied(f"This needs the {role} role; you are a {roles.role_of(user)}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def can_act(user) -> bool:
    """Engineers and managers change incidents; viewers only read."""
    return roles.has_role(user, roles.ENGINEER)


def wants_json(request) -> bool:
    """A fetch() from our scripts asks for JSON; a plain form post gets HTML and redirects."""
    return "application/json" in request.headers.get("Accept", "")
