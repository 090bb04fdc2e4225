"""Tokens, members and error pages: what they print, what they offer, and what they ask first."""

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from accounts import services
from accounts.models import ApiToken
from tests.browser import browser, collected_static, sign_in, watch, web_server  # noqa: F401 (fixtures)


@pytest.mark.django_db
def test_the_tokens_page_shows_the_header_literally_and_links_the_quick_start(client_for, personas):
    page = client_for(personas.member).get(reverse("accounts:tokens")).content.decode()
    assert "<code>Authorization: Bearer &lt;token&gt;</code>" in page
    assert f'href="{reverse("api-docs")}"' in page


@pytest.mark.django_db
def test_revoking_a_token_and_removing_a_member_ask_first(client_for, personas):
    services.create_api_token(personas.owner, "CI")
    tokens = client_for(personas.owner).get(reverse("accounts:tokens")).content.decode()
    assert 'data-confirm="Revoke this token? Programs using it will stop working at once."' in tokens
    members = client_for(personas.owner).get(reverse("accounts:members", args=[personas.team.pk])).content.decode()
    assert members.count('data-confirm="Remove this member from the team?"') == 2


@pytest.mark.django_db
def test_the_owner_is_not_offered_remove_on_themselves(client_for, personas):
    page = client_for(personas.owner).get(reverse("accounts:members", args=[personas.team.pk])).content.decode()
    own = personas.membership(personas.owner)
    others = [personas.membership(personas.admin), personas.membership(personas.member)]
    assert reverse("accounts:remove_member", args=[personas.team.pk, own.pk]) not in page
    assert all(reverse("accounts:remove_member", args=[personas.team.pk, m.pk]) in page for m in others)


@pytest.mark.django_db
@pytest.mark.parametrize("language, title", [("en", "Page not found"), ("zh-hans", "页面不存在")])
def test_a_missing_page_is_ours_translated_with_a_way_back(client_for, personas, language, title):
    client = client_for(personas.member)
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    response = client.get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404 and f"<h1>{title}</h1>" in page
    assert f'href="{reverse("home")}"' in page and 'class="topbar"' in page


def test_a_server_error_page_needs_nothing_and_says_what_to_do():
    from django.views.defaults import server_error

    with translation.override("zh-hans"):
        response = server_error(RequestFactory().get("/"))
    page = response.content.decode()
    assert response.status_code == 500 and "<h1>出错了</h1>" in page and 'href="/"' in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_token_is_revoked_only_after_saying_yes(browser, web_server, personas):
    services.create_api_token(personas.member, "Render farm")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.base = web_server.url
    errors = watch(page)
    answers = []
    page.on("dialog", lambda dialog: (answers.append(dialog.message),
                                      dialog.accept() if len(answers) > 1 else dialog.dismiss()))
    sign_in(page, "mei")
    page.goto(page.base + reverse("accounts:tokens"))
    page.click("text=Revoke")
    assert answers == ["Revoke this token? Programs using it will stop working at once."]
    assert ApiToken.objects.filter(user=personas.member).count() == 1
    with page.expect_navigation():
        page.click("text=Revoke")
    assert ApiToken.objects.filter(user=personas.member).count() == 0
    assert "The token was revoked" in page.inner_text(".messages")
    context.close()
    assert errors == []



@pytest.mark.django_db
def test_a_refused_form_explains_itself_in_the_readers_language(personas):
    from django.test import Client

    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(personas.member)
    response = client.post(reverse("accounts:tokens"), {"name": "no csrf token"})
    page = response.content.decode()
    assert response.status_code == 403 and "<h1>表单已过期</h1>" in page and f'href="{reverse("home")}"' in page
    assert not ApiToken.objects.exists()
