from rest_framework import authentication, exceptions

from incidents.tokens import api_token_authenticate

MALFORMED = "Malformed Authorization header: expected 'Bearer <token>'."


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` with a token from ``create_api_token`` or the UI."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        if isinstance(header, bytes):
            header = header.decode("latin-1")
        # Split on ASCII spaces only: str.split() would also split on a non-breaking space or other
        # Unicode whitespace, which no client means as a separator.
        parts = [part for part in header.split(" ") if part]
        if not parts:
            # A header that is present but holds nothing usable (blank, a non-breaking space): refuse it,
            # rather than fall back to the session as if no header had been sent.
            raise exceptions.AuthenticationFailed(MALFORMED)
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(MALFORMED)
        # Tokens are ASCII; anything else (odd bytes, a lone surrogate from a test client) cannot match one.
        token = api_token_authenticate(parts[1]) if parts[1].isascii() else None
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
