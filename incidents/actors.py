"""Who did something: a person, an API client acting for a person, an integration, or the system."""

from dataclasses import dataclass

from incidents.models import ActorKind


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str
    user: object | None = None

    @property
    def is_person(self) -> bool:
        return self.user is not None

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(kind=ActorKind.USER, name=user.get_username(), user=user)

    @classmethod
    def for_request(cls, request) -> "Actor":
        token = getattr(request, "auth", None)
        user = request.user
        token_name = getattr(token, "name", None)
        if token_name is not None:
            return cls(kind=ActorKind.API, name=f"{user.get_username()} (token {token_name})", user=user)
        return cls.for_user(user)

    @classmethod
    def system(cls, name: str = "Orion Ops") -> "Actor":
        return cls(kind=ActorKind.SYSTEM, name=name)

    @classmethod
    def integration(cls, name: str) -> "Actor":
        return cls(kind=ActorKind.INTEGRATION, name=name)
