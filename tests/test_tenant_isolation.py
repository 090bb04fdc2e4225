"""Every endpoint and consumer refuses objects the user may not see, with the same 404."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from heygem_site.asgi import application
from jobs.models import Upload
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owned(personas, tmp_path):
    """A job of the member (with its assets and result) and an upload in progress."""
    job = make_job(personas, tmp_path)
    result = job.results.get()
    upload = Upload.objects.create(team=personas.team, owner=personas.member, original_name="x.mp4", size=10)
    return {"job": job.pk, "result": result.pk, "asset": job.audio_id, "upload": upload.pk}


ENDPOINTS = [
    ("get", "api-job", "job"), ("post", "api-job-cancel", "job"), ("get", "api-job-events", "job"),
    ("get", "api-result", "result"), ("delete", "api-result", "result"), ("get", "api-result-download", "result"),
    ("get", "api-result-thumbnail", "result"), ("get", "api-asset", "asset"), ("delete", "api-asset", "asset"),
    ("get", "api-asset-file", "asset"), ("get", "api-upload", "upload"), ("put", "api-upload", "upload"),
    ("delete", "api-upload", "upload"), ("post", "api-upload-complete", "upload"),
]


@pytest.mark.parametrize("who", ["outsider", "admin_of_other_team", "teammate_with_member_role"])
@pytest.mark.parametrize("method, name, key", ENDPOINTS)
def test_objects_of_others_are_not_found(api_for, personas, owned, who, method, name, key, django_user_model):
    user = {"outsider": personas.outsider, "admin_of_other_team": personas.outsider}.get(who)
    if who == "teammate_with_member_role":
        user = django_user_model.objects.create_user("teammate")
        personas.team.memberships.create(user=user, role="member")
    response = getattr(api_for(user), method)(reverse(name, args=[owned[key]]))
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"


def test_bulk_actions_skip_what_the_user_may_not_see(api_for, personas, owned):
    outsider = api_for(personas.outsider)
    assert outsider.post(reverse("api-results-bulk-delete"), {"ids": [owned["result"]]}, format="json").json() == {
        "deleted": []}
    assert outsider.get(reverse("api-results-zip"), {"job": owned["job"]}).status_code == 404
    assert outsider.get(reverse("api-jobs")).json()["count"] == 0
    assert outsider.get(reverse("api-assets")).json()["count"] == 0


def test_team_owners_and_admins_see_their_members_jobs(api_for, personas, owned):
    for manager in (personas.owner, personas.admin):
        client = api_for(manager)
        assert client.get(reverse("api-job", args=[owned["job"]])).status_code == 200
        assert client.get(reverse("api-jobs")).json()["count"] == 1


def test_anonymous_clients_are_refused(client, owned):
    response = client.get(reverse("api-job", args=[owned["job"]]))
    assert response.status_code in (401, 403)
    for name, key in (("api-result-download", "result"), ("api-result-thumbnail", "result"), ("api-asset-file", "asset")):
        assert client.get(reverse(name, args=[owned[key]])).status_code == 404, name


def connect(user, path, origin=b"http://localhost"):
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        web = Client()
        web.force_login(user)
        headers.append((b"cookie", f"sessionid={web.cookies['sessionid'].value}".encode()))

    async def attempt():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code
    return async_to_sync(attempt)()


def test_the_job_socket_refuses_outsiders_anonymous_users_and_foreign_origins(personas, owned):
    path = f"/ws/jobs/{owned['job']}/"
    assert connect(personas.outsider, path) == (False, 4404)
    assert connect(None, path) == (False, 4401)
    assert connect(personas.member, path, origin=b"http://evil.example.com")[0] is False
    assert connect(personas.member, path)[0] is True
