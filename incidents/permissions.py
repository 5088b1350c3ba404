from rest_framework import permissions

from incidents import roles


class RolePermission(permissions.BasePermission):
    """Per-action role check.

    A view lists the minimum role per action in ``required_roles`` (action name
    → role); reads default to viewer, everything else to engineer. A user in
    no role group is refused everything (403).
    """

    message = "Your role does not allow this."

    def required_role(self, request, view) -> str:
        action = getattr(view, "action", None)
        mapping = getattr(view, "required_roles", {})
        if action in mapping:
            return mapping[action]
        if action is None and request.method in mapping:  # plain APIViews map methods
            return mapping[request.method]
        if request.method in permissions.SAFE_METHODS:
            return roles.VIEWER
        return roles.ENGINEER

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        required = self.required_role(request, view)
        if not roles.has_role(user, required):
            self.message = (
                "You have no Orion Ops role; ask an administrator to add you to viewer, engineer or manager."
                if roles.user_rank(user) == 0
                else f"This needs the {required} role."
            )
            return False
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return self.has_permission(request, view)
