import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from heygem_site.asgi import application
from jobs import services
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def session_headers(user):
    web = Client()
    web.force_login(user)
    return [(b"origin", b"http://localhost"), (b"host", b"localhost"),
            (b"cookie", f"sessionid={web.cookies['sessionid'].value}".encode())]


def test_a_reconnecting_client_gets_what_it_missed_then_live_events(personas, tmp_path):
    job = make_job(personas, tmp_path)
    result = job.results.get()
    result = services.claim_result(result.pk)                # seq 2; progress goes to the claim
    services.report_progress(result, "render", 0.25, 10, 40)  # seq 3

    headers = session_headers(personas.member)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/?after=1", headers=headers)
        assert (await communicator.connect())[0]
        backlog = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        await database_sync_to_async(services.report_progress)(result, "render", 0.5, 20, 40)
        live = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return backlog, live

    backlog, live = async_to_sync(scenario)()
    assert [(e["seq"], e["kind"]) for e in backlog] == [(2, "result.running"), (3, "result.progress")]
    assert (live["seq"], live["kind"], live["data"]["frames_done"], live["data"]["progress"]) == (
        4, "result.progress", 20, 0.5)


def test_the_gallery_socket_hears_about_the_users_own_results_only(personas, tmp_path):
    job = make_job(personas, tmp_path)

    mine_headers, their_headers = session_headers(personas.member), session_headers(personas.outsider)

    async def scenario():
        mine = WebsocketCommunicator(application, "/ws/gallery/", headers=mine_headers)
        theirs = WebsocketCommunicator(application, "/ws/gallery/", headers=their_headers)
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        await database_sync_to_async(services.cancel_job)(job)
        message = await mine.receive_json_from(timeout=5)
        nothing = await theirs.receive_nothing(timeout=0.5)
        await mine.disconnect()
        await theirs.disconnect()
        return message, nothing

    message, nothing = async_to_sync(scenario)()
    assert message["kind"] == "result.changed" and message["state"] == "cancelled" and message["job"] == job.pk
    assert nothing is True


def test_a_ping_gets_a_pong_and_changes_nothing(personas, tmp_path):
    job = make_job(personas, tmp_path)
    headers = session_headers(personas.member)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/?after=1", headers=headers)
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "cancel"})  # Not an action this socket takes.
        nothing = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return pong, nothing

    pong, nothing = async_to_sync(scenario)()
    assert pong == {"kind": "pong"} and nothing is True
    assert job.results.get().state == "queued"
