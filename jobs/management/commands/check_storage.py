from django.core.management.base import BaseCommand, CommandError

from jobs import housekeeping


class Command(BaseCommand):
    help = ("Compare the files under the media folder with the database: files no row points to (orphans) and "
            "rows whose file vanished (missing). With --fix, delete orphans and forget missing outputs.")

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Repair what was found.")

    def handle(self, *args, fix, **options):
        try:
            drift = housekeeping.find_drift()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        for name in drift["orphans"]:
            self.stdout.write(f"orphan file: {name}")
        for kind, pk, name in drift["missing"]:
            self.stdout.write(f"missing file: {kind} {pk}: {name}")
        if not drift["orphans"] and not drift["missing"]:
            self.stdout.write("Storage and database agree.")
            return
        if fix:
            fixed = housekeeping.fix_drift(drift)
            self.stdout.write(f"Fixed: {fixed['orphans']} orphan files deleted, {fixed['outputs']} missing outputs "
                              f"forgotten, {fixed['assets']} unused uploads without a file deleted.")
        else:
            self.stdout.write("Run with --fix to repair.")
            raise SystemExit(1)
