"""Worker "hosts" for scale-out tests: each a network namespace joined to this one by a veth pair.

A host sees this machine only at the far end of its veth pair (10.231.N.1); PostgreSQL, Redis and S3 listen
on 127.0.0.1 here, so a small TCP forwarder listens on that address for each of them. Its processes also get
their own mount and UTS namespaces: their own host name (so worker names differ, as on real hosts), and the web
server's var/ and the test's temporary files hidden under empty tmpfs mounts, so a worker that tried to read a
file the web server stored would find nothing. Each host has a private folder for its own var/ and temp files.
"""

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.processes import Process

SUBNET = "10.231"


def netns_problem():
    """Why network namespaces cannot be used here, or None when they can."""
    if not shutil.which("ip") or not shutil.which("unshare"):
        return "the `ip` (iproute2) and `unshare` (util-linux) commands are missing"
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"heygem-probe-{uuid.uuid4().hex[:6]}"
    probe = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if probe.returncode:
        return f"`ip netns add` is refused here: {probe.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def remove_stale_hosts():
    """Deletes the namespaces and veth pairs of test runs that died without cleaning up (their addresses
    would clash with this run's)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    for name in listed:
        parts = name.split("-")
        if len(parts) == 3 and parts[0] == "heygem" and parts[1].isdigit() and not Path(f"/proc/{parts[1]}").exists():
            subprocess.run(["ip", "link", "del", f"hgv{int(parts[1]) % 100000}x{parts[2]}"], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


class Forwarder:
    """Copies TCP connections from (listen address, port) to 127.0.0.1:port, on an event loop of its own."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.servers = []
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def listen(self, address, port, target_port):
        async def start():
            return await asyncio.start_server(lambda r, w: self._pipe_to(r, w, target_port), address, port)
        self.servers.append(asyncio.run_coroutine_threadsafe(start(), self.loop).result(10))

    async def _pipe_to(self, reader, writer, target_port):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._copy(reader, up_writer), self._copy(up_reader, writer))

    @staticmethod
    async def _copy(reader, writer):
        try:
            while data := await reader.read(256 * 1024):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def close(self):
        async def stop():
            for server in self.servers:
                server.close()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


class Host:
    """One worker host: namespace `name`, address 10.231.N.2, this machine at 10.231.N.1."""

    def __init__(self, index, hidden):
        self.index = index
        self.hostname = f"worker-host-{index}"
        self.name = f"heygem-{os.getpid()}-{index}"
        self.veth = f"hgv{os.getpid() % 100000}x{index}"  # 15 characters at most
        # A subnet per run and host, so two test runs at once (CI and a developer) do not clash.
        octet = (os.getpid() % 120) * 2 + index
        self.gateway, self.address = f"{SUBNET}.{octet}.1", f"{SUBNET}.{octet}.2"
        self.hidden = [str(path) for path in hidden]
        self.root = Path(tempfile.mkdtemp(prefix=f"heygem-{self.hostname}-", dir="/var/tmp"))
        (self.root / "tmp").mkdir()

    def create(self):
        for argv in (["ip", "netns", "add", self.name],
                     ["ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.name],
                     ["ip", "addr", "add", f"{self.gateway}/24", "dev", self.veth],
                     ["ip", "link", "set", self.veth, "up"],
                     ["ip", "-n", self.name, "addr", "add", f"{self.address}/24", "dev", "eth0"],
                     ["ip", "-n", self.name, "link", "set", "eth0", "up"],
                     ["ip", "-n", self.name, "link", "set", "lo", "up"]):
            subprocess.run(argv, check=True, capture_output=True)
        return self

    def delete(self):
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def argv(self, command):
        """`command` run on the host: its network, its host name, the web server's files hidden."""
        hide = "".join(f"mount -t tmpfs -o size=1m,mode=0755 heygem-hidden {shlex.quote(path)}; "
                       for path in self.hidden)
        script = f"hostname {shlex.quote(self.hostname)}; {hide}exec \"$@\""
        # Killed with the test run if it dies first (a worker would otherwise outlive it, cut off in its namespace).
        return ["setpriv", "--pdeathsig", "KILL", "ip", "netns", "exec", self.name, "unshare", "--mount", "--uts",
                "--propagation", "private", "sh", "-ec", script, "sh", *command]

    def run(self, command, **kwargs):
        return subprocess.run(self.argv(command), capture_output=True, text=True, **kwargs)

    def url(self, url):
        """`url` (on 127.0.0.1) as this host reaches it: through this machine's end of the veth pair."""
        parts = urlsplit(url)
        netloc = parts.netloc.replace(f"{parts.hostname}:", f"{self.gateway}:", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    def env(self, **extra):
        """A worker's whole environment: nothing of this machine's but PATH, and a var/ and temp folder of its own."""
        return {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
                "HEYGEM_VAR_DIR": str(self.root / "var"), "TMPDIR": str(self.root / "tmp"), **extra}


class HostWorker(Process):
    """`dramatiq heygem_site.worker` running on a Host."""

    ready_line = "Worker process is ready"

    def __init__(self, host, env, threads=1):
        self.host = host
        super().__init__(host.argv([sys.executable, "-m", "dramatiq", "heygem_site.worker", "--processes", "1",
                                    "--threads", str(threads)]), env)

    def stop(self, timeout=60):
        """SIGTERM to Dramatiq's main process only, as systemd's KillMode=mixed sends it: it relays it once to its
        worker process, which hands its video back (a second SIGTERM would make that one quit at once)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def forward_to_hosts(forwarder, hosts, urls):
    """Makes each URL's port (a service on 127.0.0.1) reachable from every host at its gateway address."""
    for url in urls:
        port = urlsplit(url).port
        for host in hosts:
            forwarder.listen(host.gateway, port, port)

