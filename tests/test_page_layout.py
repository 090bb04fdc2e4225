"""Every page at phone, tablet and desktop widths in English and Chinese, in a real Chromium: nothing
scrolls sideways, gallery tiles hold their content, and a Chinese page shows no English left over.
Set HEYGEM_SCREENSHOTS=1 to refresh the pictures in docs/screenshots/."""

import pytest

from accounts import services as account_services
from jobs import services
from jobs.models import Result
from tests.browser import (LOCALES, WIDTHS, browser, catalogue_msgids, collected_static, screenshot,  # noqa: F401
                           sideways_overflow, sign_in, untranslated, watch, web_server)
from tests.jobs_factories import VIDEOS, finish, make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LONG_NAMES = ["quarterly_sales_presentation_final_version_with_subtitles_and_music_2026.mp4",
              "王经理的产品介绍视频_第二版_最终确认版本_请勿修改.mp4", "intro.mp4"]
# Pages whose pictures go to docs/screenshots/, at these widths (every page is checked at every width).
PICTURED = {"workspace": (390, 1440), "job": (390, 1440), "gallery": (390, 1440), "player": (390, 1440),
            "members": (390,), "join": (390,), "tokens": (390,), "not-found": (390,)}


def tile_overflows(page):
    """Tiles whose content sticks out of their box, with the pixels it sticks out by."""
    return page.evaluate("""() => [...document.querySelectorAll('.tile')].flatMap((tile, i, tiles) => {
      const box = tile.getBoundingClientRect(), grid = tile.parentElement.getBoundingClientRect();
      const next = tiles[i + 1] && tiles[i + 1].getBoundingClientRect();
      const overlap = next && Math.abs(next.top - box.top) < 1 ? box.right - next.left : 0;
      const outside = Math.max(box.right - grid.right, grid.left - box.left);
      if (overlap > 0 || outside > 1) return [{tile: tile.dataset.result, overlap, outside: Math.round(outside)}];
      return [...tile.querySelectorAll('*')].filter(el => el.getClientRects().length).map(el => {
        const r = el.getBoundingClientRect();
        const spill = Math.max(r.right - box.right, box.left - r.left, el.scrollWidth - el.clientWidth);
        return {tile: tile.dataset.result, tag: el.tagName, over: Math.round(spill)};
      }).filter(item => item.over > 1);
    })""")


@pytest.fixture
def catalogue(personas, tmp_path):
    owner = personas.owner
    type(owner).objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    job = make_job(personas, tmp_path, videos=VIDEOS, user=owner)
    results = list(job.results.order_by("pk"))
    for result, name in zip(results, LONG_NAMES):
        type(result.video).objects.filter(pk=result.video_id).update(original_name=name)
    finish(results[0], tmp_path)
    finish(results[1], tmp_path, video="video/woman_blue_700sq_30fps.mp4")
    services.fail_result(results[2].pk, "no_face")
    account_services.create_api_token(owner, "Render farm")
    return job, results


@pytest.fixture
def invitation_path(personas):
    from accounts.access import get_membership_for_user

    actor = get_membership_for_user(personas.owner, personas.team.pk)
    account_services.invite_member(actor, "member", note="a new colleague from sales")  # Listed on the members page.
    return account_services.invite_member(actor, "member")[1]


def test_every_page_fits_every_width_in_both_languages(browser, web_server, personas, catalogue, invitation_path):
    job, results = catalogue
    signed_out = {"login": "/accounts/login/", "join": invitation_path}
    pages = {
        "workspace": "/", "job": f"/jobs/{job.pk}/", "gallery": "/gallery/", "player": f"/gallery/{results[0].pk}/",
        "team": "/team/", "members": f"/accounts/teams/{personas.team.pk}/members/", "tokens": "/accounts/tokens/",
        "password": "/accounts/password/", "api-docs": "/api/docs/", "admin": "/admin/",
        "admin-results": "/admin/jobs/result/", "admin-disk": "/admin/disk-usage/", "not-found": "/no-such-page/",
        "join": invitation_path,  # Signed in: accept or decline.
    }
    user_words = set(LONG_NAMES) | {"Presenters", "Competitors", "olivia", "adam", "mei", "oscar", "Render farm",
                                    "speech_44k_stereo_5s.wav", "retrieval", "a new colleague from sales",
                                    "test"}  # the engine's reason, in its own words (jobs_factories)
    user_words |= {f"{u}@example.com" for u in ("olivia", "adam", "mei", "oscar")}
    msgids = catalogue_msgids()
    problems = []
    for language, locale in LOCALES.items():
        context = browser.new_context(locale=locale, viewport={"width": WIDTHS[0], "height": 900})
        page = context.new_page()
        page.base = web_server.url
        errors = watch(page, allowed_statuses=(404,))
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for name, path in signed_out.items():
                page.goto(page.base + path)
                if over := sideways_overflow(page):
                    problems.append(f"{name} (signed out) {language} {width}px scrolls sideways: {over}")
                if not page.is_visible("#language"):
                    problems.append(f"{name} (signed out) {language} {width}px: no language choice in sight")
                if language == "zh-hans" and width == WIDTHS[-1]:
                    if english := untranslated(page, user_words, msgids):
                        problems.append(f"{name} (signed out) {width}px shows English: {english}")
                if name == "join" and width in PICTURED["join"]:
                    screenshot(page, f"join-signed-out-{language}-{width}", full_page=False)
        sign_in(page, "olivia")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for name, path in pages.items():
                page.goto(page.base + path)
                page.wait_for_load_state("load")
                if over := sideways_overflow(page):
                    problems.append(f"{name} {language} {width}px scrolls sideways: {over}")
                if name == "workspace":  # On a phone the links fold behind one Menu button.
                    bar = page.locator(".topbar").bounding_box()
                    if width == 390 and (bar["height"] > 70 or not page.is_visible(".menu-toggle")):
                        problems.append(f"workspace {language} {width}px: the top bar is {bar['height']}px high")
                    elif width == 390:
                        page.click(".menu-toggle")
                        if not page.is_visible(".topbar nav a[href='/gallery/']"):
                            problems.append(f"workspace {language} {width}px: Menu shows no links")
                        screenshot(page, f"menu-{language}-{width}", full_page=False)
                        page.click(".menu-toggle")
                    elif page.is_visible(".menu-toggle") or not page.is_visible(".topbar nav"):
                        problems.append(f"workspace {language} {width}px: the links hide behind a menu")
                if name in ("tokens", "members", "password"):  # Form buttons keep their own size.
                    button = page.locator("form.grid button").last.bounding_box()
                    if button["height"] > 50 or button["width"] > 220:
                        problems.append(f"{name} {language} {width}px: form button is {button}")
                if name == "gallery":
                    assert page.locator(".tile").count() == 3
                    if spill := tile_overflows(page):
                        problems.append(f"gallery {language} {width}px: tile content spills out: {spill}")
                # The words are the same at every width; at the widest nothing is folded away.
                if language == "zh-hans" and width == WIDTHS[-1] and name != "api-docs":  # Swagger: no Chinese.
                    if english := untranslated(page, user_words, msgids):
                        problems.append(f"{name} {width}px shows English: {english}")
                if width in PICTURED.get(name, ()):
                    screenshot(page, f"{name}-{language}-{width}", full_page=False)
        context.close()
        assert [e for e in errors if "/no-such-page/" not in e] == [], errors
    assert problems == [], "\n".join(problems)
