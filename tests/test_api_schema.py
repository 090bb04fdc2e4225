import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_describes_every_endpoint(client_for, personas):
    response = client_for(personas.member).get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in ["/api/v1/assets/", "/api/v1/uploads/{upload_id}/", "/api/v1/jobs/", "/api/v1/jobs/{job_id}/events/",
                 "/api/v1/results/zip/", "/api/v1/results/bulk-delete/", "/api/v1/me/"]:
        assert path in paths, path
    assert schema["components"]["securitySchemes"]["apiToken"] == {
        "type": "http", "scheme": "bearer", "description": "A token from the API tokens page."}


def test_the_api_docs_page_works_offline(client_for, personas):
    page = client_for(personas.member).get(reverse("api-docs")).content.decode()
    assert "swagger-ui" in page
    # Every script and stylesheet comes from our own static files: nothing names another host (a bare "cdn"
    # check would also trip over the random CSRF token in the page).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) and "jsdelivr" not in page
    assert "/static/drf_spectacular_sidecar/" in page


def test_the_api_docs_open_with_a_quick_start_that_names_real_endpoints(client_for, personas):
    from django.urls import resolve

    schema = client_for(personas.member).get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    guide = schema["info"]["description"]
    steps = ["Quick start", "1. Create a token", "2. Upload", "3. Create a job", "Poll", "Webhook", "5. Download"]
    assert [guide.index(step) for step in steps] == sorted(guide.index(step) for step in steps)
    # Every path the guide shows exists, so the examples cannot drift away from the API.
    paths = set(re.findall(r"(/api/v1/[\w{}/-]*/)", guide))
    assert len(paths) >= 6
    for path in paths:
        resolve(path.replace("uploads/{id}", "uploads/00000000-0000-0000-0000-000000000000")
                    .replace("{id}", "1").replace("{result_id}", "1"))
    assert "X-HeyGem-Signature" in guide and "Idempotency-Key" in guide
