"""Security headers Django does not send by itself."""

from jobs.storage import media_origins


def content_security_policy(media_origins=()):
    """Scripts only from this site's own files (no inline script or handler anywhere: pages declare behaviour
    with data attributes, static/js/app.js), media and previews from this site, the page's own blobs and
    `media_origins` (S3, where downloads redirect to presigned links), no framing, no plugins. Inline styles
    stay allowed: the admin and the API docs set a few."""
    media = "".join(f" {origin}" for origin in media_origins)
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob:{media}",
        f"media-src 'self' blob:{media}",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


CONTENT_SECURITY_POLICY = content_security_policy()


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy(media_origins()))
        return response
