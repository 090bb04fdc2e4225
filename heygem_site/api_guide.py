"""The quick start shown at the top of the API docs (/api/docs/), in Markdown. A plain string with no
imports, so the settings can name it without loading anything."""

QUICK_START = """Upload audio and template videos, run lip-sync jobs, follow them and fetch the results.

## Quick start

**1. Create a token** on the *API tokens* page of the web UI and send it with every request:
`Authorization: Bearer <token>`.

```sh
export HEYGEM=https://heygem.example.com TOKEN=hg_...
```

**2. Upload the voice and the person's video.** Each upload is checked by its content and answers with its `id`.
Large files can go through resumable uploads instead (`POST /api/v1/uploads/`, then `PUT` the bytes
with `Content-Range`, then `POST /api/v1/uploads/{id}/complete/`).

```sh
curl -H "Authorization: Bearer $TOKEN" -F kind=audio -F file=@voice.wav $HEYGEM/api/v1/assets/
curl -H "Authorization: Bearer $TOKEN" -F kind=video -F file=@presenter.mp4 $HEYGEM/api/v1/assets/
```

**3. Create a job**: one voice for one or more videos (one result each). The `Idempotency-Key` makes a retried
request return the first job instead of a second one.

```sh
curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -H "Idempotency-Key: $(uuidgen)" \\
     -d '{"audio": 12, "videos": [13], "webhook_url": "https://example.com/heygem-hook"}' $HEYGEM/api/v1/jobs/
```

**4. Wait for it**, either way:
- *Poll* `GET /api/v1/jobs/{id}/` every few seconds until `finished_at` is set; each result has its `state`
  (`queued`, `running`, `succeeded`, `failed`, `cancelled`), `progress` and, when it failed, an `error`.
- *Webhook*: with a `webhook_url`, HeyGem POSTs the finished job there once. The job's creation answer holds a
  `webhook_secret` (shown once); check `X-HeyGem-Signature: sha256=<HMAC-SHA256 of the body with that secret>`.

**5. Download** each succeeded result, or all of a job's as one ZIP:

```sh
curl -H "Authorization: Bearer $TOKEN" -o result.mp4 "$HEYGEM/api/v1/results/{result_id}/download/?download=1"
curl -H "Authorization: Bearer $TOKEN" -o job.zip "$HEYGEM/api/v1/results/zip/?job={job_id}"
```

Every error has the same shape: `{"error": {"code": "...", "message": "..."}}`, with a message in the language of
the request's `Accept-Language`. A 503, and a 429 with the code `throttled` (e.g. more script previews in a minute
than the server allows a person), come with `Retry-After`: the seconds to wait before trying again.
"""
