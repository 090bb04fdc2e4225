"""The suite runs on the real services the product uses, not on stand-ins."""

import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection


@pytest.mark.django_db
def test_the_suite_runs_on_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")


def test_redis_is_a_real_server():
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = f"heygem-test-{uuid.uuid4()}"
    client.set(key, "ok", ex=10)
    assert client.get(key) == b"ok"
    assert "redis_version" in client.info("server")
    client.delete(key)


def test_channel_layer_carries_messages_through_redis():
    layer = get_channel_layer()
    assert type(layer).__module__.startswith("channels_redis")

    async def round_trip():
        channel = await layer.new_channel()
        await layer.group_add("heygem-test", channel)
        await layer.group_send("heygem-test", {"type": "job.progress", "value": 0.5})
        message = await layer.receive(channel)
        await layer.group_discard("heygem-test", channel)
        return message

    assert async_to_sync(round_trip)() == {"type": "job.progress", "value": 0.5}
