import io

import pytest
from django.core.management import call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_the_first_admin_password_may_come_from_a_file(tmp_path, monkeypatch):
    secret = tmp_path / "admin-password"
    secret.write_text("from a file, not the environment\n")
    monkeypatch.delenv("HEYGEM_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("HEYGEM_ADMIN_PASSWORD_FILE", str(secret))
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "with the password from HEYGEM_ADMIN_PASSWORD" in out.getvalue()
    assert User.objects.get(username="admin").check_password("from a file, not the environment")


def test_a_generated_password_is_printed_once(monkeypatch):
    monkeypatch.delenv("HEYGEM_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("HEYGEM_ADMIN_PASSWORD_FILE", raising=False)
    first, second = io.StringIO(), io.StringIO()
    call_command("ensure_admin", stdout=first)
    call_command("ensure_admin", stdout=second)
    assert "shown only this once" in first.getvalue() and second.getvalue() == ""
