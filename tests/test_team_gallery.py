"""The gallery's team view: owners and admins see the team's videos, filtered by member; a member
with the plain role and an outsider see only their own. Empty results say why."""

import pytest
from django.urls import reverse

from jobs import services
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def videos(personas, tmp_path):
    return {"mei": make_job(personas, tmp_path).results.get(),
            "adam": make_job(personas, tmp_path, user=personas.admin).results.get()}


def shown(response):
    return sorted(result.pk for result in response.context["page"].object_list)


def test_an_owner_sees_the_whole_team_and_can_filter_by_member(client_for, personas, videos):
    client = client_for(personas.owner)
    assert shown(client.get(reverse("gallery"))) == []  # "My videos" stays hers only.
    everyone = client.get(reverse("gallery"), {"scope": "team"})
    assert shown(everyone) == sorted(r.pk for r in videos.values())
    page = everyone.content.decode()
    assert "Videos of Presenters" in page and 'class="muted owner">mei<' in page
    only_mei = client.get(reverse("gallery"), {"scope": "team", "member": personas.member.pk})
    assert shown(only_mei) == [videos["mei"].pk]
    # The player keeps the team view: next and previous walk the team's videos.
    player = client.get(reverse("player", args=[videos["mei"].pk]), {"scope": "team"})
    assert player.context["count"] == 2


def test_a_plain_member_and_an_outsider_get_only_their_own(client_for, personas, videos):
    page = client_for(personas.member).get(reverse("gallery"), {"scope": "team"})
    assert shown(page) == [videos["mei"].pk] and "Whole team" not in page.content.decode()
    assert shown(client_for(personas.outsider).get(reverse("gallery"), {"scope": "team"})) == []


def test_an_empty_filter_says_nothing_matches_and_an_empty_gallery_says_make_one(client_for, personas, videos):
    client = client_for(personas.member)
    narrowed = client.get(reverse("gallery"), {"state": "failed"}).content.decode()
    assert "No videos match these filters." in narrowed and "No videos yet." not in narrowed
    services.delete_result(videos["mei"])
    empty = client.get(reverse("gallery")).content.decode()
    assert "No videos yet." in empty and "No videos match" not in empty


def test_a_failed_video_shows_its_error_in_the_readers_language_and_links_to_its_job(client_for, personas, videos):
    result = videos["mei"]
    services.fail_result(result.pk, "no_face")
    client = client_for(personas.member)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    tile = client.get(reverse("gallery")).content.decode()
    assert "视频中没有找到人脸" in tile and f'href="/jobs/{result.job_id}/"' in tile
    player = client.get(reverse("player", args=[result.pk])).content.decode()
    assert "视频中没有找到人脸" in player and f'href="/jobs/{result.job_id}/"' in player
