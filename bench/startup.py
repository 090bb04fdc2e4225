"""How long `make run` takes to serve, first and second start, against a bare Django start.

    .venv/bin/python bench/startup.py

Runs `make run` twice on a scratch HEYGEM_VAR_DIR (the first start creates the SQLite database and
the admin), measures the time until the sign-in page answers, stops with SIGINT and checks that no
process of the platform is left. The baseline is `python -c "import django; django.setup()"`.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 7871


def served():
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{PORT}/accounts/login/", timeout=1).status == 200
    except OSError:
        return False


def timed_start(env):
    started = time.perf_counter()
    proc = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    while not served():
        if proc.poll() is not None or time.perf_counter() - started > 300:
            raise SystemExit("make run did not serve the sign-in page")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", f"--port {PORT}|{env['HEYGEM_VAR_DIR']}"], capture_output=True, text=True)
    return elapsed, left.stdout.split()


def main():
    with tempfile.TemporaryDirectory() as var:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(HEYGEM_VAR_DIR=var, HEYGEM_PORT=str(PORT), HEYGEM_SECRET_KEY="bench")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, check=True,
                       env={**env, "DJANGO_SETTINGS_MODULE": "heygem_site.settings"})
        baseline = time.perf_counter() - t0
        first, left1 = timed_start(env)
        second, left2 = timed_start(env)
    print(f"bare django.setup():        {baseline:6.2f} s")
    print(f"make run, first start:      {first:6.2f} s  ({first / baseline:.1f}x baseline)")
    print(f"make run, second start:     {second:6.2f} s  ({second / baseline:.1f}x baseline; target < 20 s)")
    print(f"processes left after Ctrl-C: {len(left1) + len(left2)}")


if __name__ == "__main__":
    main()
