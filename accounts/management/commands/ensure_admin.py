import os

from django.core.management.base import BaseCommand

from accounts.services import ensure_admin


class Command(BaseCommand):
    help = "Create the first admin account (and its team) when the site has no superuser."

    def handle(self, *args, **options):
        username = os.environ.get("HEYGEM_ADMIN_USERNAME") or "admin"
        created = ensure_admin(username, password=os.environ.get("HEYGEM_ADMIN_PASSWORD") or None,
                               email=os.environ.get("HEYGEM_ADMIN_EMAIL", ""))
        if created is None:
            return
        user, password = created
        if os.environ.get("HEYGEM_ADMIN_PASSWORD"):
            self.stdout.write(f"Created the admin account {user.username!r} with the password from HEYGEM_ADMIN_PASSWORD.")
        else:
            # Printed once: it is stored only as a hash.
            self.stdout.write(self.style.WARNING(
                f"Created the admin account. Sign in as {user.username!r} with the password {password!r}"
                " (shown only this once; change it under your user name after signing in)."))
