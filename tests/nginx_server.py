"""A real nginx (TLS, the site template) in front of a real uvicorn, on free ports, for the tests.

The app runs `heygem_site.asgi` on the test database with production-like proxy settings; nginx
uses the config `python -m nginx.render site` prints, inside a standalone nginx.conf whose pid,
logs and temporary files live under the test's folder.
"""

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from nginx.render import nginx_command, self_signed, write_standalone
from tests.processes import database_url, free_port

ROOT = Path(__file__).resolve().parent.parent


def rss_bytes(pid):
    """Resident memory of a process, from /proc (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


class Site:
    def __init__(self, root, db, extra_env=None):
        self.root = Path(root)
        self.media_root = self.root / "media"
        self.static_root = self.root / "var" / "static"
        self.app_port, self.http_port, self.https_port = free_port(), free_port(), free_port()
        self.cert, key = self.root / "tls" / "localhost.crt", self.root / "tls" / "localhost.key"
        self_signed(self.cert, key)
        self.env = os.environ | {
            "DATABASE_URL": database_url(db),
            "HEYGEM_VAR_DIR": str(self.root / "var"), "HEYGEM_MEDIA_ROOT": str(self.media_root),
            "HEYGEM_PORT": str(self.app_port), "HEYGEM_TLS_CERT_PATH": str(self.cert), "HEYGEM_TLS_KEY_PATH": str(key),
            "HEYGEM_BEHIND_HTTPS_PROXY": "true", "HEYGEM_X_ACCEL_REDIRECT": "true",
            "HEYGEM_HSTS_SECONDS": "31536000", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.procs = {}

    @property
    def base(self):
        return f"https://localhost:{self.https_port}"

    def ssl_context(self):
        """Trusts this site's self-signed certificate, and only it."""
        return ssl.create_default_context(cafile=str(self.cert))

    def start(self):
        for path in (self.media_root, self.static_root):
            path.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "app.log", "w")
        self.procs["app"] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "heygem_site.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.app_port), "--lifespan", "off", "--ws", "websockets", "--no-access-log"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        site = subprocess.run(
            [sys.executable, "-m", "nginx.render", "site", "--server-name", "localhost",
             "--http-listen", f"127.0.0.1:{self.http_port}", "--https-listen", f"127.0.0.1:{self.https_port}",
             "--public-https-port", str(self.https_port)],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=True).stdout
        prefix = self.root / "nginx"
        conf = write_standalone(prefix, site, access_log=prefix / "access.log")
        self.procs["nginx"] = subprocess.Popen(
            nginx_command(prefix, conf), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for port in (self.app_port, self.https_port, self.http_port):
            self._wait_for(port)
        return self

    def _wait_for(self, port, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
                if dead or time.monotonic() > deadline:
                    raise AssertionError(f"{dead or port} did not start:\n" + self.log())
                time.sleep(0.1)

    def log(self):
        return (self.root / "app.log").read_text()[-5000:]

    def pids(self):
        """The processes whose memory matters: uvicorn, and nginx's master and workers."""
        nginx = self.procs["nginx"].pid
        return {"app": [self.procs["app"].pid], "nginx": [nginx, *children(nginx)]}

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
