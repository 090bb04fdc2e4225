from django.core.management.base import BaseCommand

from accounts.services import ensure_admin
from heygem_site.env import env_str


class Command(BaseCommand):
    help = ("Create the first admin account (and its team) when the site has no superuser. The password comes "
            "from HEYGEM_ADMIN_PASSWORD (or the file named by HEYGEM_ADMIN_PASSWORD_FILE), else it is generated "
            "and printed once.")

    def handle(self, *args, **options):
        given = env_str("HEYGEM_ADMIN_PASSWORD", "")
        created = ensure_admin(env_str("HEYGEM_ADMIN_USERNAME", "") or "admin", password=given or None,
                               email=env_str("HEYGEM_ADMIN_EMAIL", ""))
        if created is None:
            return
        user, password = created
        if given:
            self.stdout.write(f"Created the admin account {user.username!r} with the password from HEYGEM_ADMIN_PASSWORD.")
        else:
            # Printed once: it is stored only as a hash.
            self.stdout.write(self.style.WARNING(
                f"Created the admin account. Sign in as {user.username!r} with the password {password!r}"
                " (shown only this once; change it under your user name after signing in)."))
        self.stdout.flush()
