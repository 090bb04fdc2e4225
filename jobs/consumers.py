"""WebSockets: a job's live events, and a user's result changes for the gallery.

Authorised in connect() with the session user and the same access helpers as the views; the
client sends nothing but may pass `?after=SEQ` to get the events it missed before live ones.

A job socket delivers each event once and in `seq` order. Events are committed in seq order (the
job row lock serialises writers), but their pushes after commit can overtake each other; when an
event arrives past a gap, every earlier one is already committed, so the gap is read from the
database.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from jobs.access import get_job_for_user
from jobs.events import PONG, RESULT_CHANGED, job_group, user_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
BACKLOG_LIMIT = 1000


class JobConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if not user or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        try:
            await database_sync_to_async(get_job_for_user)(user, job_id)
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.job_id = job_id
        self.group = job_group(job_id)
        # Join before reading the backlog, so no event falls between the two.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.last_sent = _int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", ["0"])[0])
        await self._send_in_order(await database_sync_to_async(_backlog)(job_id, self.last_sent))

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # Actions go through the API, never through this socket; the page only pings, to learn that
        # a silent connection is still alive.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"kind": PONG})

    async def job_event(self, message):
        event = message["event"]
        if event["seq"] <= self.last_sent:
            return  # Already sent from the backlog.
        if event["seq"] > self.last_sent + 1:
            await self._send_in_order(await database_sync_to_async(_backlog)(
                self.job_id, self.last_sent, before=event["seq"]))
        await self._send_in_order([event])

    async def _send_in_order(self, events):
        for event in events:
            if event["seq"] > self.last_sent:
                await self.send_json(event)
                self.last_sent = event["seq"]


class GalleryConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if not user or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        pass

    async def result_changed(self, message):
        await self.send_json({key: value for key, value in message.items() if key != "type"} | {"kind": RESULT_CHANGED})


def _backlog(job_id, after, before=None):
    from jobs.models import JobEvent

    events = JobEvent.objects.filter(job_id=job_id, seq__gt=after)
    if before is not None:
        events = events.filter(seq__lt=before)
    return [event.as_message() for event in events.order_by("seq")[:BACKLOG_LIMIT]]


def _int(value):
    try:
        return max(0, int(value))
    except ValueError:
        return 0
