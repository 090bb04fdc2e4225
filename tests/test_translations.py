import gettext
import re
from pathlib import Path

import pytest
from django.urls import reverse

LOCALE = Path(__file__).resolve().parent.parent / "locale"


def po_entries(path):
    text = path.read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        msgid = re.search(r'^msgid ((?:".*"\n)+)', block + "\n", re.M)
        msgstr = re.search(r'^msgstr ((?:".*"\n?)+)', block, re.M)
        if msgid and msgstr and "#, fuzzy" not in block:
            join = lambda m: "".join(re.findall(r'"(.*)"', m.group(1))).replace('\\"', '"')
            if join(msgid):
                yield join(msgid), join(msgstr)


@pytest.mark.parametrize("domain, at_least", [("django", 150), ("djangojs", 25)])
def test_every_string_has_a_chinese_translation_and_the_catalogue_is_compiled(domain, at_least):
    po = LOCALE / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po"
    entries = list(po_entries(po))
    assert len(entries) > at_least
    untranslated = [msgid for msgid, msgstr in entries if not msgstr]
    assert untranslated == []
    compiled = gettext.GNUTranslations(open(po.with_suffix(".mo"), "rb"))
    stale = [msgid for msgid, msgstr in entries if compiled.gettext(msgid) != msgstr]
    assert stale == [], "django.mo is older than django.po: run manage.py compilemessages"


def test_the_sign_in_page_follows_the_browser_language(client):
    page = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert "<h1>登录</h1>" in page and 'lang="zh-hans"' in page
    page = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "<h1>Sign in</h1>" in page


@pytest.mark.django_db
def test_the_language_switcher_changes_the_language(client_for, personas):
    client = client_for(personas.member)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("home")})
    assert "欢迎，mei" in client.get(reverse("team-home")).content.decode()
