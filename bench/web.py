"""Web-side figures of the jobs issue, measured against a real uvicorn on PostgreSQL and Redis.

    bash tests/services.sh          # PostgreSQL and Redis, as `make test` uses them
    .venv/bin/python bench/web.py [--upload-gb 1.5] [--zip-files 10] [--zip-mb 50] [--clients 200]

1. Upload: one file of --upload-gb through the ASGI server, as a multipart POST and as the browser's
   resumable upload (8 MB chunks); peak RSS growth of the server process while it arrives.
2. ZIP: --zip-files results of --zip-mb each, streamed as one ZIP, against `cat` of the same files
   (both from a warm page cache); server RSS growth.
3. WebSocket: --clients sockets on running jobs; latency from the moment the worker-side service
   writes a progress event to the moment a client receives it (p50, p95, max).

Uses a scratch database `heygem_bench` (dropped and recreated) and Redis database 2.
"""

import argparse
import asyncio
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from scratch import setup_django

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"
DB_NAME = "heygem_bench"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples a process's RSS every 20 ms while in use."""

    def __init__(self, pid):
        self.pid, self.peak, self.running = pid, 0.0, True

    def __enter__(self):
        self.start = rss_mb(self.pid)
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    @property
    def growth(self):
        return self.peak - self.start


def setup_environment(var_dir):
    setup_django(DB_NAME, var_dir, REDIS_URL="redis://127.0.0.1:6379/2", HEYGEM_MAX_INPUT_MINUTES="1000000",
                 HEYGEM_MAX_UPLOAD_MB="8192", HEYGEM_QUEUE_NAMESPACE="heygem-bench", HEYGEM_CHANNELS_PREFIX="heygem-bench")


def start_server(port):
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "heygem_site.asgi:application", "--port", str(port),
                             "--lifespan", "off", "--ws", "websockets", "--no-access-log", "--log-level", "warning"],
                            cwd=ROOT)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("uvicorn did not start")


def transport_stream(path):
    """The clip re-encoded as MPEG-TS: TS bytes repeated back to back still make a valid file."""
    import av

    out = io.BytesIO()
    with av.open(str(path)) as src, av.open(out, "w", format="mpegts") as dst:
        stream = dst.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 320, "yuv420p"
        for frame in src.decode(video=0):
            for packet in stream.encode(frame.reformat(320, 320)):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out.getvalue()


def repeated(unit, total, chunk=1024 * 1024):
    sent, block = 0, unit * max(1, chunk // len(unit))
    while sent < total:
        piece = block[: total - sent]
        sent += len(piece)
        yield piece


def bench_upload(port, pid, token, gigabytes):
    unit = transport_stream(SHARED / "video" / "woman_glasses_524sq_25fps.mp4")
    size = int(gigabytes * 1024**3) // len(unit) * len(unit)
    rows = []

    boundary = "heygembenchboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nvideo\r\n--{boundary}\r\n"
            f"Content-Disposition: form-data; name=\"file\"; filename=\"big.ts\"\r\n"
            f"Content-Type: video/mp2t\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    with PeakRss(pid) as rss:
        conn.putrequest("POST", "/api/v1/assets/")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.endheaders()
        conn.send(head)
        for piece in repeated(unit, size):
            conn.send(piece)
        conn.send(tail)
        response = conn.getresponse()
        body = response.read()
    rows.append(("multipart POST", response.status, time.perf_counter() - started, rss))
    assert response.status == 201, body[:300]

    # The browser's way: resumable chunks. A different last byte makes it a new file (no dedup).
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request("POST", "/api/v1/uploads/", json.dumps({"name": "big2.ts", "size": size + len(unit)}), headers)
    upload = json.loads(conn.getresponse().read())
    started = time.perf_counter()
    with PeakRss(pid) as rss:
        offset, chunk = 0, 8 * 1024 * 1024
        buffer = b""
        for piece in repeated(unit, size + len(unit)):
            buffer += piece
            if len(buffer) >= chunk or offset + len(buffer) == size + len(unit):
                conn.request("PUT", f"/api/v1/uploads/{upload['id']}/", buffer, {
                    "Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                    "Content-Range": f"bytes {offset}-{offset + len(buffer) - 1}/{size + len(unit)}"})
                answer = conn.getresponse()
                answer.read()
                assert answer.status == 200, answer.status
                offset += len(buffer)
                buffer = b""
        conn.request("POST", f"/api/v1/uploads/{upload['id']}/complete/", "{}", headers)
        response = conn.getresponse()
        body = response.read()
    rows.append(("resumable, 8 MB chunks", response.status, time.perf_counter() - started, rss))
    assert response.status == 201, body[:300]
    print(f"\nUpload of {size / 1024**3:.2f} GB through uvicorn (target: server RSS growth < 100 MB)")
    for name, status, seconds, rss in rows:
        print(f"  {name:24s} HTTP {status}  {seconds:6.1f} s  {size / seconds / 1024**2:6.0f} MB/s  "
              f"server RSS {rss.start:.0f} -> peak {rss.peak:.0f} MB (growth {rss.growth:.0f} MB)")


def bench_zip(port, pid, token, user, files, megabytes):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from jobs.models import Job, Result

    job = Job.objects.filter(created_by=user).first()
    video = job.audio
    paths, ids = [], []
    for index in range(files):
        name = default_storage.save(f"bench/out-{index}.mp4", ContentFile(os.urandom(megabytes * 1024**2)))
        result = Result.objects.create(job=job, video=video, minutes=0, state="succeeded", output=name,
                                       output_size=megabytes * 1024**2)
        paths.append(default_storage.path(name))
        ids.append(result.pk)
    subprocess.run(["cat", *paths], stdout=subprocess.DEVNULL, check=True)  # Warm the page cache.
    started = time.perf_counter()
    subprocess.run(["cat", *paths], stdout=subprocess.DEVNULL, check=True)
    cat_seconds = time.perf_counter() - started

    def download():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request("GET", f"/api/v1/results/zip/?ids={','.join(map(str, ids))}",
                     headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        received = 0
        while block := response.read(1024 * 1024):
            received += len(block)
        return response.status, received

    download()  # Warm up the server's code paths.
    started = time.perf_counter()
    with PeakRss(pid) as rss:
        status, received = download()
    zip_seconds = time.perf_counter() - started
    total = files * megabytes * 1024**2
    print(f"\nZIP of {files} results x {megabytes} MB (target: < 1.3x cat, server memory flat)")
    print(f"  warm page cache: cat {cat_seconds:5.2f} s ({total / cat_seconds / 1024**2:5.0f} MB/s), "
          f"streamed ZIP (HTTP {status}) {zip_seconds:5.2f} s ({received / zip_seconds / 1024**2:5.0f} MB/s): "
          f"{zip_seconds / cat_seconds:5.2f}x")
    print(f"  server RSS {rss.start:.0f} -> peak {rss.peak:.0f} MB (growth {rss.growth:.0f} MB); "
          f"{received - total} bytes of ZIP structure")
    if drop_caches():
        started = time.perf_counter()
        subprocess.run(["cat", *paths], stdout=subprocess.DEVNULL, check=True)
        cold_cat = time.perf_counter() - started
        drop_caches()
        started = time.perf_counter()
        download()
        cold_zip = time.perf_counter() - started
        print(f"  cold page cache: cat {cold_cat:5.2f} s, streamed ZIP {cold_zip:5.2f} s: {cold_zip / cold_cat:5.2f}x")


def drop_caches():
    """Empties the page cache (root only), so both sides read from disk as a busy server would."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def bench_websocket(port, user, clients, jobs_count=50, seconds=10):
    import websockets
    from django.test import Client

    from jobs import services
    from jobs.models import Job, Result

    template = Job.objects.filter(created_by=user).first()
    results = []
    for _ in range(jobs_count):
        job = Job.objects.create(team=template.team, created_by=user, audio=template.audio)
        result = Result.objects.create(job=job, video=template.audio, minutes=0, state="running")
        results.append(result)
    web = Client()
    web.force_login(user)
    cookie = f"sessionid={web.cookies['sessionid'].value}"
    latencies = []
    # The worker side runs in its own process, as a real worker does, so it does not share this
    # process's interpreter lock with the 200 listening sockets.
    from django.db import connections
    import multiprocessing

    connections.close_all()
    stop = multiprocessing.get_context("fork").Event()

    def publish():
        tick = 0
        while not stop.is_set():
            tick += 1
            for result in results:
                services.report_progress(result, "render", min(tick / 100, 0.99), tick, 100)
            time.sleep(1.0)

    async def listen(job_id, ready):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/?after=0", open_timeout=60,
                                      additional_headers=[("Cookie", cookie), ("Origin", f"http://127.0.0.1:{port}")],
                                      max_size=None) as ws:
            ready.append(1)
            try:
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), timeout=seconds + 10))
                    if event["kind"] == "result.progress" and started.is_set():
                        sent = datetime.fromisoformat(event["time"]).timestamp()
                        latencies.append(time.time() - sent)
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                pass

    started = threading.Event()

    async def main():
        ready = []
        tasks = [asyncio.create_task(listen(results[i % jobs_count].job_id, ready)) for i in range(clients)]
        while len(ready) < clients:
            await asyncio.sleep(0.1)
        publisher = multiprocessing.get_context("fork").Process(target=publish, daemon=True)
        started.set()
        publisher.start()
        await asyncio.sleep(seconds)
        stop.set()
        publisher.join()
        await asyncio.sleep(2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95)]
    print(f"\nWebSocket: {clients} clients on {jobs_count} running jobs, one progress event per job per second "
          f"for {seconds} s (target: p95 < 1 s)")
    print("  latency deciles (ms):", [round(latencies[int(len(latencies) * q / 10)] * 1000) for q in range(10)])
    print(f"  events received {len(latencies)}; latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upload-gb", type=float, default=1.5)
    parser.add_argument("--zip-files", type=int, default=10)
    parser.add_argument("--zip-mb", type=int, default=50)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--only", choices=["upload", "zip", "websocket"], help="Run one part only.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="heygem-bench-", dir=ROOT / "var" if (ROOT / "var").exists() else None) as var:
        setup_environment(var)
        from accounts.services import create_api_token, create_team
        from django.contrib.auth import get_user_model
        from jobs import services

        user = get_user_model().objects.create_user("bench", password="x")
        team = create_team("Bench", user)
        team.quota.storage_bytes = 100 * 1024**3
        team.quota.concurrent_jobs = 1000
        team.quota.save()
        _, token = create_api_token(user, "bench")
        audio_copy = Path(var) / "voice.wav"
        audio_copy.write_bytes((SHARED / "audio" / "speech_44k_stereo_5s.wav").read_bytes())
        audio = services.ingest_file(team, user, audio_copy, "voice.wav")
        from jobs.models import Job

        Job.objects.create(team=team, created_by=user, audio=audio)
        port = free_port()
        server = start_server(port)
        try:
            print(f"uvicorn pid {server.pid}, idle RSS {rss_mb(server.pid):.0f} MB")
            if args.only in (None, "upload"):
                bench_upload(port, server.pid, token, args.upload_gb)
            if args.only in (None, "zip"):
                bench_zip(port, server.pid, token, user, args.zip_files, args.zip_mb)
            if args.only in (None, "websocket"):
                bench_websocket(port, user, args.clients)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
