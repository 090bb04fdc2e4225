import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from heygem_site.env import env_bool, env_choice, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent


def test_typed_readers_parse_values():
    environ = {"A": "42", "B": "yes", "C": "a, b,,c", "D": "S3"}
    assert env_int("A", 0, environ=environ) == 42
    assert env_bool("B", False, environ=environ) is True
    assert env_list("C", [], environ=environ) == ["a", "b", "c"]
    assert env_choice("D", "local", ("local", "s3"), environ=environ) == "s3"
    assert env_int("MISSING", 7, environ=environ) == 7


@pytest.mark.parametrize("reader, value, fragment", [
    (lambda env: env_int("PORT", 1, environ=env), "seventy", "PORT: expected a whole number"),
    (lambda env: env_int("PORT", 1, maximum=65535, environ=env), "70000", "PORT: must be at most 65535"),
    (lambda env: env_bool("PORT", False, environ=env), "maybe", "PORT: expected true or false"),
    (lambda env: env_choice("PORT", "a", ("a", "b"), environ=env), "c", "PORT: expected one of a, b"),
])
def test_bad_values_name_the_variable(reader, value, fragment):
    with pytest.raises(ImproperlyConfigured, match=fragment):
        reader({"PORT": value})


def test_secrets_can_come_from_a_file(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cr3t\n")
    assert env_str("KEY", environ={"KEY_FILE": str(secret)}) == "s3cr3t"
    with pytest.raises(ImproperlyConfigured, match="KEY_FILE: cannot read"):
        env_str("KEY", environ={"KEY_FILE": str(tmp_path / "absent")})


def _import_settings(tmp_path, **env):
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "heygem_site.settings",
            "HEYGEM_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_a_bad_setting_stops_the_start_with_a_clear_message(tmp_path):
    result = _import_settings(tmp_path, HEYGEM_SECRET_KEY="x", HEYGEM_PORT="http")
    assert result.returncode != 0
    assert "HEYGEM_PORT: expected a whole number, got 'http'" in result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _import_settings(tmp_path)
    assert result.returncode != 0
    assert "HEYGEM_SECRET_KEY" in result.stderr


def test_importing_settings_creates_nothing(tmp_path):
    result = _import_settings(tmp_path, HEYGEM_SECRET_KEY="x")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "var").exists()


def test_embedded_defaults_need_no_service(tmp_path):
    code = ("from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.REDIS_URL, "
            "s.USE_EMBEDDED_REDIS, s.STORAGES['default']['BACKEND'], s.PORT)")
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "heygem_site.settings",
                                 "HEYGEM_SECRET_KEY": "x", "HEYGEM_VAR_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    engine, redis_url, embedded, storage, port = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert redis_url == f"unix://{tmp_path}/run/redis.sock" and embedded == "True"
    assert storage == "django.core.files.storage.FileSystemStorage"
    assert port == "7860"
