"""A scratch database and Django set up on it, for benches that drive the platform (bench/web.py,
bench/scale_out.py). The database is dropped and recreated on every run."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(db_name, var_dir, **env):
    """Recreates `db_name` on the test PostgreSQL (tests/services.sh), migrates it and sets Django up on it,
    with HEYGEM_VAR_DIR=`var_dir` and the settings in `env` (REDIS_URL, namespaces, limits)."""
    import psycopg2

    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="heygem", password="heygem", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {db_name}")
    admin.close()
    os.environ.update(DATABASE_URL=f"postgres://heygem:heygem@127.0.0.1:5432/{db_name}", HEYGEM_SECRET_KEY="bench",
                      HEYGEM_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="heygem_site.settings", **env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
