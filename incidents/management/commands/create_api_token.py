from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from incidents.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USERNAME. The token is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'deploy script'.")
        parser.add_argument("--expires-in-days", type=int, default=None, help="Expire after this many days.")

    def handle(self, *args, username, name, expires_in_days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        if not name.strip():
            raise CommandError("--name cannot be blank.")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        token, raw = api_token_create(user=user, name=name.strip(), expires_at=expires_at)
        self.stdout.write(f"Created token {token.prefix}… '{token.name}' for {username}. It is shown only once:")
        self.stdout.write(raw)
