"""python manage.py sync_services FILE.yaml [--dry-run] [--prune]"""

import os

from django.core.management.base import BaseCommand, CommandError

from diagnostics import sync


class Command(BaseCommand):
    help = (
        "Create or update services and their diagnostic targets from a YAML file (idempotent). "
        "Every error is reported with its path; with any error nothing changes."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The targets file (see docs/diagnostics.md).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; change nothing.")
        parser.add_argument(
            "--prune", action="store_true", help="Also delete services that are not in the file (off by default)."
        )

    def handle(self, *args, file: str, dry_run: bool, prune: bool, **options):
        try:
            with open(file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from None
        try:
            targets_file = sync.parse(text)
            changes = sync.apply(targets_file, prune=prune, dry_run=dry_run)
        except sync.SyncError as exc:
            for path, message in exc.errors:
                self.stderr.write(f"{path}: {message}")
            raise CommandError(f"{file}: {len(exc.errors)} error(s); nothing changed.", returncode=1) from None
        prefix = "would have " if dry_run else ""
        for line in changes:
            self.stdout.write(f"{prefix}{line}")
        for service in targets_file.services:
            for kind, settings in service.targets.items():
                for key, name in settings.config().items():
                    if key.endswith("_env") and name not in os.environ:
                        self.stdout.write(f"note: {name} ({service.slug} {kind}) is not set here; workers need it")
        summary = f"{len(targets_file.services)} service(s) in {file}; {len(changes)} change(s)"
        self.stdout.write(summary + (" (dry run: nothing written)" if dry_run else ""))
