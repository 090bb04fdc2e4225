"""Running the same work in several threads released at the same instant, to test races."""

import threading

from django.db import connection


def at_once(work, times=2):
    """Calls `work()` in `times` threads that start together. Returns what each returned, or the
    exception it raised, in no particular order. Each thread closes its own database connection."""
    outcomes, barrier = [], threading.Barrier(times)

    def run():
        barrier.wait()
        try:
            outcomes.append(work())
        except Exception as exc:  # noqa: BLE001 - the caller asserts on what came back
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
