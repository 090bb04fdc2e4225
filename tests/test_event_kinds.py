"""The job page and the server name event kinds from one list (jobs/events.py), so they cannot drift."""

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from jobs import events
from tests.jobs_factories import make_job

JS = Path(__file__).resolve().parent.parent / "static" / "js"


def test_the_job_page_uses_only_kinds_the_server_defines():
    source = (JS / "job.js").read_text()
    used = set(re.findall(r"\bKIND\.([A-Z_]+)", source))
    assert used, "job.js no longer reads the kinds?"
    assert used <= set(events.KINDS), f"job.js uses kinds jobs/events.py does not define: {used - set(events.KINDS)}"


def test_no_script_spells_an_event_kind_itself():
    kinds = set(events.KINDS.values())
    for path in JS.glob("*.js"):
        literals = set(re.findall(r"""["'`]([a-z]+\.[a-z_]+|pong)["'`]""", path.read_text()))
        assert not literals & kinds, f"{path.name} spells {literals & kinds}: use KIND.* from the page"


def test_every_kind_the_services_record_is_defined():
    sources = "".join(p.read_text() for p in (Path(events.__file__).parent).glob("*.py"))
    recorded = set(re.findall(r"record_event\([^,]+,\s*events\.([A-Z_]+)", sources))
    assert recorded and recorded <= set(events.KINDS)
    assert not re.search(r"""record_event\([^,]+,\s*["']""", sources), "a kind spelled as a literal"


@pytest.mark.django_db
def test_the_job_page_renders_the_kinds_for_its_script(client_for, personas, tmp_path):
    job = make_job(personas, tmp_path)
    page = client_for(personas.owner).get(reverse("job", args=[job.pk])).content.decode()
    rendered = re.search(r'<script id="event-kinds" type="application/json">(.*?)</script>', page).group(1)
    assert json.loads(rendered) == events.KINDS
