"""Which queued video runs next: decided in PostgreSQL when a worker thread is free, not by queue order.

A queue message is a token: there is one per queued video of a queue, and the thread that takes one
starts the video that should run next among those the message's queue holds (services.claim_result).
So neither a message's place in Redis nor Dramatiq's priorities (which only reorder what a worker has
already fetched) decide the order; this does, in three rules:

1. Interactive before bulk: a job of one video (someone waits at the workspace) goes before the videos
   of any batch. A team's concurrent-jobs quota bounds how many such jobs it can have at once.
2. Fair between teams: then the team with the fewest videos running, and among those the team whose
   last video started longest ago, so the videos of concurrent batches interleave round-robin.
3. Then a job's videos in the order of their cards (its oldest job first).
"""

from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce

from jobs.models import Result


def _count(rows, by):
    return Coalesce(Subquery(rows.values(by).annotate(n=Count("pk")).values("n")[:1], output_field=IntegerField()),
                    Value(0))


def in_run_order(results, first=None):
    """`results` (queued ones) in the order they should start. `first`: a Q of results that go before the
    rest at the same level of rule 1 (the message's own queue, before other queues a worker serves)."""
    team = Result.objects.filter(job__team_id=OuterRef("job__team_id"))
    results = results.annotate(
        job_videos=_count(Result.objects.filter(job_id=OuterRef("job_id")), "job_id"),
        team_running=_count(team.filter(state=Result.State.RUNNING), "job__team_id"),
        team_last_start=Subquery(team.exclude(started_at=None).order_by("-started_at").values("started_at")[:1]),
    )
    interactive = Case(When(job_videos=1, then=Value(0)), default=Value(1), output_field=IntegerField())
    order = [interactive]
    if first is not None:
        order.append(Case(When(first, then=Value(0)), default=Value(1), output_field=IntegerField()))
    return results.order_by(*order, "team_running", F("team_last_start").asc(nulls_first=True), "job_id", "pk")


def claimable(backends, interactive_backends=()):
    """Queued videos a message may start: those of jobs asking for one of `backends`, and the single-video
    jobs asking for one of `interactive_backends` (the worker's other queues). A script job's videos wait
    until its speech is an audio asset."""
    mine = Q(job__backend__in=backends)
    rows = Result.objects.filter(state=Result.State.QUEUED, job__audio__isnull=False)
    if not interactive_backends:
        return in_run_order(rows.filter(mine))
    ordered = in_run_order(rows.filter(mine | Q(job__backend__in=interactive_backends)), first=mine)
    return ordered.filter(mine | Q(job_videos=1))
