"""Keeps the OpenAPI schema true to what the API answers: every error status an operation can give, in the
API's one error shape (drf-spectacular postprocessing hook, SPECTACULAR_SETTINGS)."""

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "Stable, for programs: e.g. `quota_storage`, `invalid`."},
            "message": {"type": "string", "description": "For people, in the request's language."},
            "fields": {"type": "object", "additionalProperties": True,
                       "description": "With `invalid`: what is wrong with each field."},
        },
        "required": ["code", "message"],
    }},
    "required": ["error"],
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}

# Every operation: authentication, permission and the Redis-outage answer.
COMMON = {
    "401": "Not signed in: no session, or no valid API token.",
    "403": "Signed in, but not allowed (e.g. no team yet), or the team's quota is used up.",
    "503": "Briefly unavailable (the message queue is away; retry after `Retry-After` seconds), or the chosen "
           "voice's files are missing or damaged on this server.",
}
# Operations that take input (parameters or a body).
WITH_INPUT = {"400": "Invalid input: `error.message` says what is wrong, `error.fields` where."}
# Operations on one object (a path parameter) or a team named in the input.
NOT_FOUND = {"404": "No such object, or not one you may see (the same answer either way)."}
LOW_DISK = {"507": "The server is almost out of disk space; new uploads and videos wait until an admin frees some."}
# Operations that name a team in their input, list pages (a page past the end) or answer 404 when they find
# nothing.
TEAM_OR_SEARCH = {"assets_upload", "uploads_create", "jobs_create", "usage_retrieve", "results_zip", "assets_list",
                  "jobs_list"}
# Operations under a rate limit (DRF throttles): their 429 says when to come back.
RATE_LIMITED = {"voices_preview"}
SPECIFIC = {
    "assets_upload": {"413": "The file is larger than this server allows.", **LOW_DISK},
    "uploads_create": {"413": "The declared size is larger than this server allows.",
                       "429": "Too many uploads in progress for this person.", **LOW_DISK},
    "uploads_update": {"409": "The chunk does not continue where the upload stopped; the body also says how many "
                              "bytes arrived.", **LOW_DISK},
    "uploads_complete": {"409": "Not all bytes have arrived yet.", "413": "The file is larger than allowed.",
                         **LOW_DISK},
    "jobs_create": {"413": "The script, spoken, would be longer than this server allows.",
                    "429": "The team already runs as many jobs as it may at once.", **LOW_DISK},
    "assets_destroy": {"409": "The file is used by a job that is still running."},
    "results_retry": {"409": "Only a failed or cancelled video can be run again."},
    "voices_preview": {"413": "The script, spoken, would be longer than this server allows.",
                       "429": "Too many previews this minute, or one is still being spoken for this person; retry "
                              "after `Retry-After` seconds."},
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            codes = dict(COMMON)
            has_input = operation.get("parameters") or operation.get("requestBody")
            if has_input:
                codes.update(WITH_INPUT)
            body_types = set(operation.get("requestBody", {}).get("content", {}))
            if body_types:
                codes["415"] = f"The body is not {' or '.join(sorted(body_types))}."
            if "{" in path or operation["operationId"] in TEAM_OR_SEARCH:
                codes.update(NOT_FOUND)
            codes.update(SPECIFIC.get(operation["operationId"], {}))
            for code, description in codes.items():
                response = {"description": description,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                if code == "503" or (code == "429" and operation["operationId"] in RATE_LIMITED):
                    response["headers"] = RETRY_AFTER
                operation["responses"].setdefault(code, response)
    return result
