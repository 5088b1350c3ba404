"""The domain's refusals. Services raise them; the API and the browser views only translate them.

``DomainInputError`` is a 400 with field errors; ``DomainConflict`` is a 409 that says why and what the
state is now. Each rule that raises one is written once, in the domain module that owns it.
``DomainForbidden`` is a 403: the person may not take this step, whatever the state (a manager
approving the report they submitted).
"""

from django.core.exceptions import PermissionDenied


class DomainInputError(Exception):
    """Bad arguments for a change (a missing note, an unknown resolution, …). Field errors by name."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(str(errors))
        self.errors = errors


class DomainConflict(Exception):
    """A change that cannot happen in the current state (an illegal move, a closed record, a step out of order)."""

    def __init__(self, detail: str, *, status: str):
        super().__init__(detail)
        self.detail = detail
        self.status = status

    def body(self) -> dict:
        """The 409's JSON: what happened and the current status."""
        return {"detail": self.detail, "status": self.status}


class DomainForbidden(PermissionDenied):
    """This person may not make this change (a 403 that says why); someone else may."""

    def __init__(self, detail: str, *, status: str):
        super().__init__(detail)
        self.detail = detail
        self.status = status

    def body(self) -> dict:
        return {"detail": self.detail, "status": self.status}
