"""Renders the nginx site config (and a standalone nginx.conf around it) from HeyGem's settings.

    python -m nginx.render site --server-name heygem.example.com > /etc/nginx/sites-available/heygem.conf
    python -m nginx.render self-signed var/tls/localhost.crt var/tls/localhost.key

Templates use {{NAME}} placeholders, not $NAME: nginx's own variables start with `$`.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def render(template, values):
    """Fills the template's placeholders; a missing value is an error, not an empty string."""
    text = (HERE / template).read_text()
    missing = sorted({name for name in _PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise KeyError(f"{template}: no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def hsts_directive(seconds, include_subdomains=False, preload=False):
    if not seconds:
        return "# No Strict-Transport-Security: HEYGEM_HSTS_SECONDS is 0."
    value = f"max-age={seconds}" + ("; includeSubDomains" if include_subdomains else "") + ("; preload" if preload else "")
    return f'add_header Strict-Transport-Security "{value}" always;'


def site_values(settings, *, server_name="localhost", http_listen=None, https_listen=None, public_https_port=None,
                upstream=None):
    """The site template's values: paths, ports, limits and HSTS from the Django settings."""
    app_host = "127.0.0.1" if settings.HOST in ("0.0.0.0", "::", "") else settings.HOST
    public_https_port = public_https_port or settings.HTTPS_PORT
    return {
        "SERVER_NAME": server_name,
        "HTTP_LISTEN": http_listen or f"{settings.HOST}:{settings.HTTP_REDIRECT_PORT}",
        "HTTPS_LISTEN": https_listen or f"{settings.HOST}:{settings.HTTPS_PORT}",
        "HTTPS_PORT_SUFFIX": "" if int(public_https_port) == 443 else f":{public_https_port}",
        "UPSTREAM": upstream or f"{app_host}:{settings.PORT}",
        "TLS_CERT": settings.TLS_CERT_FILE,
        "TLS_KEY": settings.TLS_KEY_FILE,
        "STATIC_ROOT": str(settings.STATIC_ROOT),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "MEDIA_PREFIX": settings.MEDIA_X_ACCEL_PREFIX,
        "ACME_ROOT": str(settings.VAR_DIR / "acme"),
        "MAX_UPLOAD_MB": settings.MAX_UPLOAD_BYTES // (1024 * 1024),
        "HSTS": hsts_directive(settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
                               settings.SECURE_HSTS_PRELOAD),
    }


def write_standalone(prefix, site_text, access_log="off"):
    """Writes site.conf and nginx.conf under `prefix`; returns the nginx.conf path."""
    prefix = Path(prefix).resolve()
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    site = prefix / "site.conf"
    site.write_text(site_text)
    # As root, nginx's workers would switch to `nobody`, who cannot read var/ (media, static) or
    # the 0700 temporary folders the tests use; this nginx serves the same user's files instead.
    user = "user root;" if os.geteuid() == 0 else "# Runs as the user who started it."
    conf = prefix / "nginx.conf"
    conf.write_text(render("standalone.conf.template", {
        "PREFIX": prefix, "USER": user, "SITE": site, "ACCESS_LOG": access_log}))
    return conf


def nginx_binary():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise SystemExit("nginx is not installed: run `bash nginx/install.sh` as root (or apt-get install nginx).")
    return found


def nginx_command(prefix, conf):
    """nginx in the foreground, so a supervisor (or a test) owns it and stops it with SIGTERM."""
    return [nginx_binary(), "-p", f"{Path(prefix).resolve()}/", "-c", str(conf), "-g", "daemon off;"]


def self_signed(cert, key, host="localhost"):
    """A self-signed certificate for `host` (and the loopback addresses), valid for 825 days."""
    cert, key = Path(cert), Path(key)
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "825", "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host},IP:127.0.0.1,IP:::1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    key.chmod(0o600)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nginx.render", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    site = commands.add_parser("site", help="print the site config for /etc/nginx/sites-available/")
    site.add_argument("--server-name", default="localhost")
    site.add_argument("--http-listen", default="80")
    site.add_argument("--https-listen", default="443")
    site.add_argument("--public-https-port", type=int, default=443)
    cert = commands.add_parser("self-signed", help="make a self-signed certificate for localhost")
    cert.add_argument("cert")
    cert.add_argument("key")
    args = parser.parse_args(argv)
    if args.command == "self-signed":
        self_signed(args.cert, args.key)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heygem_site.settings")
    from django.conf import settings

    sys.stdout.write(render("site.conf.template", site_values(
        settings, server_name=args.server_name, http_listen=args.http_listen, https_listen=args.https_listen,
        public_https_port=args.public_https_port)))


if __name__ == "__main__":
    main()
