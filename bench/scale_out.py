"""Scale-out figures (issue 16): a batch rendered by one and by two worker hosts on S3, and what S3 costs a video.

    bash tests/services.sh          # PostgreSQL and Redis, as `make test` uses them
    .venv/bin/python bench/scale_out.py [--videos 10] [--out var/bench/scale_out.json]

Three runs of the same batch (--videos results of short shared clips on a 5 s voice), each on a fresh bucket
or media folder:
1. baseline: local storage, one worker on this machine (files moved into place, read where they lie);
2. S3, one worker host; 3. S3, two worker hosts. A host is a network namespace reaching PostgreSQL, Redis and
   a real S3 server (SeaweedFS) only by address, with its own temp folder (tests/hosts.py, tests/s3_server.py).
Per run: the batch's wall time (job created -> last video finished) and, per video, its time outside the engine:
the worker's run (claimed -> finished) less the engine's own stage timings. That is fetching the inputs, storing
output and thumbnail, and the database writes around them; the S3 runs less the baseline is what moving a video
through S3 costs. Needs root (network namespaces). Uses the scratch database `heygem_bench_scale` (dropped and
recreated), Redis database 3.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from scratch import setup_django

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "heygem_bench_scale"
REDIS_URL = "redis://127.0.0.1:6379/3"
AUDIO = "audio/speech_44k_stereo_5s.wav"
VIDEOS = ["video/woman_glasses_524sq_25fps.mp4", "video/man_map_844sq_25fps.mp4",
          "video/woman_closeup_512sq_25fps_mpeg4.mp4"]


def worker_env(extra):
    keep = ("DATABASE_URL", "REDIS_URL", "HEYGEM_SECRET_KEY", "HEYGEM_QUEUE_NAMESPACE", "HEYGEM_CHANNELS_PREFIX")
    return {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
            **{k: os.environ[k] for k in keep}, **extra}


def run_batch(name, workers, storage_settings, count, tmp):
    """Starts `workers`, renders one job of `count` videos, stops them; returns the run's figures."""
    from django.test.utils import override_settings

    from accounts.models import User
    from accounts.services import create_team

    from jobs import services
    from jobs.models import Result
    from tests.conftest import shared

    # A person of its own per run: the same person's same bytes would be the earlier run's stored asset.
    user = User.objects.create_user(f"bench{User.objects.count()}", "bench@example.com", "bench password 1")
    team = create_team(f"Bench {name}", user)
    with override_settings(**storage_settings):
        def ingest(clip):
            copy = Path(tempfile.mkdtemp(dir=tmp)) / Path(clip).name
            copy.write_bytes(shared(clip).read_bytes())
            return services.ingest_file(team, user, copy, Path(clip).name)

        audio = ingest(AUDIO)
        videos = [ingest(VIDEOS[i % len(VIDEOS)]) for i in range(count)]
        for worker in workers:
            worker.start()
        try:
            started = time.monotonic()
            job, _ = services.create_job(user, team, audio, videos)
            while Result.objects.filter(job=job, state__in=Result.ACTIVE).exists():
                time.sleep(0.2)
            wall = time.monotonic() - started
        finally:
            for worker in workers:
                worker.kill(signal.SIGTERM)
        results = list(Result.objects.filter(job=job))
    failed = [r.pk for r in results if r.state != "succeeded"]
    if failed:
        raise SystemExit(f"{name}: results {failed} did not succeed; a worker said:\n"
                         + "".join(workers[0].lines[-40:]))
    outside = [(r.finished_at - r.started_at).total_seconds() - sum(r.timings.values()) for r in results]
    hosts = sorted({r.worker.split(":")[0] for r in results})
    return {"run": name, "videos": count, "wall_s": round(wall, 1), "videos_per_minute": round(60 * count / wall, 2),
            "outside_engine_s_median": round(statistics.median(outside), 2),
            "outside_engine_s_max": round(max(outside), 2),
            "engine_s_median": round(statistics.median(sum(r.timings.values()) for r in results), 2),
            "hosts": hosts, "videos_per_host": {h: sum(r.worker.startswith(h + ":") for r in results) for h in hosts}}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "scale_out.json"))
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="heygem-bench-scale-"))
    setup_django(DB_NAME, var_dir, REDIS_URL=REDIS_URL, HEYGEM_QUEUE_NAMESPACE="heygem-bench-scale",
                 HEYGEM_CHANNELS_PREFIX="heygem-bench-scale", HEYGEM_QUOTA_CONCURRENT_JOBS="100")

    import redis
    from django.conf import settings

    from heygem_site.settings import s3_storage
    from tests.hosts import Forwarder, Host, HostWorker, forward_to_hosts, netns_problem, remove_stale_hosts
    from tests.processes import Process
    from tests.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

    if problem := netns_problem():
        raise SystemExit(f"worker hosts need network namespaces: {problem}")
    remove_stale_hosts()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter("heygem-bench-scale*"):
        client.delete(key)
    server = S3Server(var_dir / "s3").start()
    hosts = [Host(index, [ROOT / "var", var_dir]) for index in (1, 2)]
    forwarder = Forwarder()
    runs = []
    try:
        for host in hosts:
            host.create()
        forward_to_hosts(forwarder, hosts, ["postgres://127.0.0.1:5432", REDIS_URL, server.endpoint])

        def host_worker(host, bucket):
            return HostWorker(host, worker_env({
                **host.env(), "DATABASE_URL": host.url(os.environ["DATABASE_URL"]),
                "REDIS_URL": host.url(REDIS_URL), **server.storage_env(bucket, host.url(server.endpoint))}))

        media = var_dir / "media"
        local = Process([sys.executable, "-m", "dramatiq", "heygem_site.worker", "--processes", "1", "--threads", "1"],
                        worker_env({"HEYGEM_VAR_DIR": str(var_dir), "HEYGEM_MEDIA_ROOT": str(media)}))
        local.ready_line = "Worker process is ready"
        runs.append(run_batch("local storage, 1 worker on this machine", [local],
                              {"MEDIA_ROOT": media}, args.videos, var_dir))
        for count in (1, 2):
            bucket = server.new_bucket()
            storage = {"STORAGES": {**settings.STORAGES, "default": s3_storage(
                bucket, server.endpoint, REGION, ACCESS_KEY, SECRET_KEY)}, "STORAGE_BACKEND": "s3"}
            runs.append(run_batch(f"S3, {count} worker host{'s' * (count > 1)}",
                                  [host_worker(host, bucket) for host in hosts[:count]], storage, args.videos, var_dir))
    finally:
        forwarder.close()
        for host in hosts:
            host.delete()
        server.stop()
    report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True).stdout.strip(), "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
