"""HeyGem behind a real nginx: TLS, redirects, 2 GB uploads, WebSockets and protected media.

One nginx and one uvicorn serve the whole module (see tests/nginx_server.py); each test talks to
them over real TLS, trusting the site's self-signed certificate.
"""

import http.client
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
from django.db import connection
from django.test import Client
from websockets.sync.client import connect as ws_connect

from accounts.services import create_api_token
from jobs import services
from jobs.models import Asset
from tests.conftest import shared
from tests.jobs_factories import VIDEOS, ingest, make_job
from nginx.render import self_signed
from tests.nginx_server import Site, rss_bytes
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
GB2 = 2 * 1024**3  # nginx's client_max_body_size 2g
MEMORY_BOUND = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def site(django_db_setup, tmp_path_factory):
    # Plenty of minutes: the streamed upload repeats a 5-second clip about 6000 times.
    running = Site(tmp_path_factory.mktemp("site"), connection.settings_dict,
                   {"HEYGEM_MAX_INPUT_MINUTES": "100000"}).start()
    yield running
    running.stop()


@pytest.fixture
def web(site, settings):
    """The site, with this test's files stored where the server (and nginx) read them."""
    settings.MEDIA_ROOT = site.media_root
    return site


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(site, path, headers=None, user=None, base=None):
    """(status, headers, body) of one GET, signed in as `user` through a session cookie."""
    headers = dict(headers or {})
    if user is not None:
        browser = Client()
        browser.force_login(user)
        headers["Cookie"] = f"sessionid={browser.cookies['sessionid'].value}"
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=site.ssl_context()), NoRedirect)
    try:
        with opener.open(urllib.request.Request((base or site.base) + path, headers=headers), timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_plain_http_redirects_to_https(web):
    status, headers, _ = fetch(web, "/accounts/login/?next=/x", base=f"http://localhost:{web.http_port}")
    assert status == 301
    assert headers["Location"] == f"https://localhost:{web.https_port}/accounts/login/?next=/x"


def test_signing_in_works_over_tls_with_secure_cookies(web, settings, django_user_model):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # What the server checks.
    django_user_model.objects.create_user(username="tess", password="tls sign-in pass 1")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=web.ssl_context()),
                                         urllib.request.HTTPCookieProcessor(jar))
    with opener.open(web.base + "/accounts/login/", timeout=30) as page:
        assert page.status == 200
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert page.headers.get_all("X-Content-Type-Options") == ["nosniff"]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode()).group(1)
    form = urllib.parse.urlencode({"username": "tess", "password": "tls sign-in pass 1", "csrfmiddlewaretoken": token})
    request = urllib.request.Request(web.base + "/accounts/login/", data=form.encode(),
                                     headers={"Referer": web.base + "/accounts/login/", "Origin": web.base})
    with opener.open(request, timeout=30) as home:
        assert home.status == 200 and "tess" in home.read().decode()
    cookies = {cookie.name: cookie for cookie in jar}
    assert cookies["sessionid"].secure and cookies["csrftoken"].secure


def test_static_files_are_served_by_nginx_compressed(web):
    (web.static_root / "probe.css").write_text("body { color: black; }\n" * 200)
    status, headers, body = fetch(web, "/static/probe.css", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and headers["Content-Type"] == "text/css"
    assert len(body) < 1000


# --- Uploads ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ts_clip(tmp_path_factory):
    """A shared clip remuxed to MPEG-TS, whose bytes stay a valid video when repeated."""
    path = tmp_path_factory.mktemp("ts") / "clip.ts"
    with av.open(str(shared(VIDEOS[0]))) as source, av.open(str(path), "w", format="mpegts") as target:
        video_in = source.streams.video[0]
        video_out = target.add_stream_from_template(video_in)
        for packet in source.demux(video_in):
            if packet.dts is not None:
                packet.stream = video_out
                target.mux(packet)
    return path.read_bytes()


def multipart(boundary, file_size, clip):
    """(head, chunks, tail): a multipart body whose file part is `clip` repeated, generated as sent."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nvideo\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"long.ts\"\r\n"
            "Content-Type: video/mp2t\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = clip * max(1, (4 * 1024 * 1024) // len(clip))

    def chunks():
        left = file_size
        while left > 0:
            piece = block[:left]
            left -= len(piece)
            yield piece
    return head, chunks(), tail


class MemorySampler(threading.Thread):
    """Peak resident memory of the site's processes while an upload runs."""

    def __init__(self, site):
        super().__init__(daemon=True)
        self.site, self.done = site, threading.Event()
        self.baseline = self.sample()
        self.peak = dict(self.baseline)

    def sample(self):
        sizes = {name: sum(rss_bytes(pid) for pid in pids) for name, pids in self.site.pids().items()}
        # What nginx spooled to disk: with request buffering on, the whole upload would land here first.
        sizes["nginx_disk"] = sum(p.stat().st_size for p in (self.site.root / "nginx" / "tmp").rglob("*")
                                  if p.is_file())
        return sizes

    def run(self):
        while not self.done.wait(0.2):
            for name, value in self.sample().items():
                self.peak[name] = max(self.peak[name], value)

    def growth(self):
        return {name: self.peak[name] - self.baseline[name] for name in self.peak}


def api_token(user):
    return create_api_token(user, "nginx test")[1]


def post_upload(site, token, boundary, head, chunks, tail, file_size, during=None):
    connection_ = http.client.HTTPSConnection("localhost", site.https_port, context=site.ssl_context(), timeout=900)
    try:
        connection_.putrequest("POST", "/api/v1/assets/")
        connection_.putheader("Authorization", f"Bearer {token}")
        connection_.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        connection_.putheader("Content-Length", str(len(head) + file_size + len(tail)))
        connection_.endheaders()
        if during:
            during.start()
        connection_.send(head)
        for chunk in chunks:
            connection_.send(chunk)
        connection_.send(tail)
        response = connection_.getresponse()
        return response.status, response.read()
    finally:
        connection_.close()


def test_an_upload_just_under_2_gb_streams_through_and_is_stored(web, personas, ts_clip):
    boundary = "heygem-boundary-7f3a"
    token = api_token(personas.member)
    # A small upload first, so the baseline includes what the first upload imports (PyAV, the API).
    status, body = post_upload(web, token, boundary, *multipart(boundary, len(ts_clip), ts_clip), len(ts_clip))
    assert status == 201, body[:500].decode(errors="replace") + web.log()
    overhead = len(multipart(boundary, 0, ts_clip)[0]) + len(multipart(boundary, 0, ts_clip)[2])
    file_size = (GB2 - 1024 * 1024 - overhead) // 188 * 188  # Whole TS packets, just under the limit.
    head, chunks, tail = multipart(boundary, file_size, ts_clip)
    sampler = MemorySampler(web)
    try:
        status, body = post_upload(web, token, boundary, head, chunks, tail, file_size, during=sampler)
    finally:
        sampler.done.set()
        sampler.join()
    growth = sampler.growth()
    print(f"\nupload of {file_size} bytes: RSS baseline {sampler.baseline}, peak {sampler.peak}, growth {growth}")
    assert status == 201, body[:500].decode(errors="replace") + web.log()
    asset = Asset.objects.get(pk=json.loads(body)["id"])
    assert (asset.kind, asset.size, asset.video_codec) == ("video", file_size, "h264")
    assert (web.media_root / asset.file.name).stat().st_size == file_size
    assert growth["nginx"] < MEMORY_BOUND, growth
    assert growth["app"] < MEMORY_BOUND, growth
    assert sampler.peak["nginx_disk"] < MEMORY_BOUND, sampler.peak


def test_a_resumable_upload_goes_through_nginx(web, personas, ts_clip):
    token = {"Authorization": f"Bearer {api_token(personas.member)}"}
    connection_ = http.client.HTTPSConnection("localhost", web.https_port, context=web.ssl_context(), timeout=60)
    try:
        connection_.request("POST", "/api/v1/uploads/", json.dumps({"name": "clip.ts", "size": len(ts_clip)}),
                            {**token, "Content-Type": "application/json"})
        started = connection_.getresponse()
        upload = started.read()
        assert started.status == 201, upload.decode(errors="replace") + web.log()
        upload = json.loads(upload)
        half = len(ts_clip) // 2
        for start, end in ((0, half), (half, len(ts_clip))):
            connection_.request("PUT", f"/api/v1/uploads/{upload['id']}/", ts_clip[start:end],
                                {**token, "Content-Range": f"bytes {start}-{end - 1}/{len(ts_clip)}"})
            answer = connection_.getresponse()
            assert (answer.status, json.loads(answer.read())["received"]) == (200, end)
        connection_.request("POST", f"/api/v1/uploads/{upload['id']}/complete/", b"", token)
        completed = connection_.getresponse()
        asset = json.loads(completed.read())
    finally:
        connection_.close()
    assert completed.status == 201, (asset, web.log())
    assert Asset.objects.get(pk=asset["id"]).size == len(ts_clip)


def raw_request(site, head):
    """Sends only a request head over TLS and returns the raw answer: nginx decides on the headers."""
    with ssl_socket(site) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer.decode(errors="replace")


def ssl_socket(site):
    raw = socket.create_connection(("127.0.0.1", site.https_port), timeout=30)
    return site.ssl_context().wrap_socket(raw, server_hostname="localhost")


def test_an_upload_over_2_gb_gets_413_with_a_clear_message(web, personas):
    answer = raw_request(web, (
        f"POST /api/v1/assets/ HTTP/1.1\r\nHost: localhost:{web.https_port}\r\n"
        f"Authorization: Bearer {api_token(personas.member)}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {GB2 + 1024 * 1024}\r\n\r\n"))
    status_line, _, rest = answer.partition("\r\n")
    assert " 413 " in status_line
    error = json.loads(rest.split("\r\n\r\n", 1)[1])["error"]
    assert error["code"] == "file_too_large" and "2048 MB" in error["message"]
    assert not Asset.objects.exists()


def test_a_large_body_outside_the_upload_endpoints_is_refused(web, personas):
    answer = raw_request(web, (
        f"POST /api/v1/jobs/ HTTP/1.1\r\nHost: localhost:{web.https_port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"))
    status_line, _, rest = answer.partition("\r\n")
    assert " 413 " in status_line
    assert json.loads(rest.split("\r\n\r\n", 1)[1])["error"]["code"] == "request_too_large"


# --- WebSocket ----------------------------------------------------------------------------------

def test_a_websocket_through_nginx_receives_a_jobs_progress(web, personas, tmp_path):
    job = make_job(personas, tmp_path)
    result = job.results.get()
    browser = Client()
    browser.force_login(personas.member)
    with ws_connect(f"wss://localhost:{web.https_port}/ws/jobs/{job.pk}/?after=0", ssl=web.ssl_context(),
                    origin=web.base, additional_headers={"Cookie": f"sessionid={browser.cookies['sessionid'].value}"},
                    open_timeout=30) as socket_:
        backlog = json.loads(socket_.recv(timeout=30))  # The job's creation: the socket is in its group.
        assert backlog["seq"] == 1
        claim = services.claim_result(result.pk)  # Progress is reported on the claim.
        services.report_progress(claim, "render", 0.5, 20, 40)
        kinds = []
        while "result.progress" not in kinds:
            event = json.loads(socket_.recv(timeout=30))
            kinds.append(event["kind"])
    assert event["data"]["frames_done"] == 20 and event["result"] == result.pk


def test_a_websocket_from_another_origin_is_refused(web, personas, tmp_path):
    job = make_job(personas, tmp_path)
    browser = Client()
    browser.force_login(personas.member)
    with pytest.raises(Exception, match="403|rejected"):
        with ws_connect(f"wss://localhost:{web.https_port}/ws/jobs/{job.pk}/", ssl=web.ssl_context(),
                        origin="https://evil.example.com", open_timeout=30,
                        additional_headers={"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}):
            pass


# --- Media through X-Accel-Redirect -------------------------------------------------------------

@pytest.fixture
def finished_result(web, personas, tmp_path):
    job = make_job(personas, tmp_path)
    result = services.claim_result(job.results.get().pk) or job.results.get()
    video = tmp_path / "out.mp4"
    shutil.copy(shared(VIDEOS[1]), video)
    report = SimpleNamespace(output_duration_s=1.0, backend="warp", backend_reason="test", seconds={},
                             face_coverage=1.0)
    services.finish_result(result, video, None, report)
    result.refresh_from_db()
    return result, shared(VIDEOS[1]).read_bytes()


def test_a_result_is_served_to_its_owner_through_nginx_with_ranges(web, personas, finished_result):
    result, data = finished_result
    url = f"/api/v1/results/{result.pk}/download/"
    status, headers, body = fetch(web, url, user=personas.member)
    assert (status, body) == (200, data)
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Content-Disposition"].startswith("inline")
    assert headers["Accept-Ranges"] == "bytes"
    assert "X-Accel-Redirect" not in headers
    status, headers, body = fetch(web, url, {"Range": "bytes=1000-1999"}, user=personas.member)
    assert (status, headers["Content-Range"], body) == (206, f"bytes 1000-1999/{len(data)}", data[1000:2000])
    status, _, body = fetch(web, url + "?download=1", {"Range": "bytes=-100"}, user=personas.member)
    assert (status, body) == (206, data[-100:])
    # The app itself only checked access and named the file: the bytes came from nginx.
    status, headers, body = fetch(web, url, {"X-Forwarded-Proto": "https"}, user=personas.member,
                                  base=f"http://127.0.0.1:{web.app_port}")
    assert (status, body) == (200, b"")
    assert headers["X-Accel-Redirect"] == f"/internal-media/{result.output.name}"


def test_a_result_is_hidden_from_an_outsider_and_an_anonymous_client(web, personas, finished_result):
    result, data = finished_result
    url = f"/api/v1/results/{result.pk}/download/"
    assert fetch(web, url, user=personas.outsider)[0] == 404
    # Signed out: the same 404 whether the result exists or not, and no bytes.
    status, _, body = fetch(web, url)
    assert status == 404 and data[:64] not in body
    assert fetch(web, f"/api/v1/results/{result.pk + 1000}/download/")[0] == 404
    assert fetch(web, url, user=personas.outsider)[0] == fetch(web, url.replace(str(result.pk), "999999"),
                                                               user=personas.outsider)[0] == 404


def test_a_stored_name_outside_ascii_reaches_nginx_intact(web, personas, tmp_path):
    asset = ingest(personas, tmp_path, VIDEOS[0], display="clip.видео")
    assert asset.file.name.endswith(".видео")
    status, headers, body = fetch(web, f"/api/v1/assets/{asset.pk}/file/", user=personas.member)
    assert (status, body) == (200, shared(VIDEOS[0]).read_bytes())


def test_guessing_a_storage_path_gives_nothing(web, personas, finished_result):
    result, data = finished_result
    name = result.output.name
    assert (web.media_root / name).read_bytes() == data
    for path in (f"/media/{name}", f"/{name}", f"/internal-media/{name}", f"/static/../media/{name}"):
        status, _, body = fetch(web, path, user=personas.member)
        assert status == 404 and data[:64] not in body, path


# --- Django's deployment checklist ----------------------------------------------------------------

def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "heygem_site.settings",
           "HEYGEM_VAR_DIR": str(tmp_path / "var"), "HEYGEM_SECRET_KEY": "k" * 10 + "-production-like-secret-0123456789-abcdefghij",
           "HEYGEM_ALLOWED_HOSTS": "heygem.example.com", "HEYGEM_BEHIND_HTTPS_PROXY": "true",
           "HEYGEM_HSTS_SECONDS": "31536000", "HEYGEM_HSTS_INCLUDE_SUBDOMAINS": "true", "HEYGEM_HSTS_PRELOAD": "true",
           "HEYGEM_X_ACCEL_REDIRECT": "true"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# --- make https: `manage.py serve --https` --------------------------------------------------------

def test_serve_https_runs_nginx_in_front_and_stops_it_with_the_rest(tmp_path):
    self_signed(tmp_path / "tls" / "localhost.crt", tmp_path / "tls" / "localhost.key")
    https_port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HEYGEM_SECRET_KEY="serve-https-test", HEYGEM_VAR_DIR=str(tmp_path), HEYGEM_PORT=str(free_port()),
               HEYGEM_HTTPS_PORT=str(https_port), HEYGEM_HTTP_PORT=str(http_port), HEYGEM_BEHIND_HTTPS_PROXY="true",
               HEYGEM_X_ACCEL_REDIRECT="true", HEYGEM_ADMIN_PASSWORD="first admin pass 1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--https"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "HeyGem is running at" in line or "Error" in line:
                break
        assert f"HeyGem is running at https://localhost:{https_port}/" in "".join(lines), "".join(lines)
        site = SimpleNamespace(base=f"https://localhost:{https_port}",
                               ssl_context=lambda: ssl.create_default_context(cafile=tmp_path / "tls" / "localhost.crt"))
        status, _, page = fetch(site, "/accounts/login/")
        assert status == 200 and b"csrfmiddlewaretoken" in page
        status, _, css = fetch(site, "/static/css/app.css")  # collectstatic ran; nginx serves var/static.
        assert status == 200 and css
        nginx_group = json.loads((tmp_path / "run" / "heygem.pids").read_text())["groups"]["nginx"]["pgid"]
    finally:
        proc.send_signal(signal.SIGINT)
        status = proc.wait(timeout=60)
    assert status == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", https_port), timeout=1)
    with pytest.raises(ProcessLookupError):
        os.killpg(nginx_group, 0)
