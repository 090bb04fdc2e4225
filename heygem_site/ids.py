"""Object ids as they arrive in URLs, query strings and bodies: whole numbers the database can hold.

PostgreSQL's bigint stops at 2^63 - 1; a larger id used to reach the query and fail there with a 500.
Importing this module registers the `<id:...>` path converter (an id out of range matches no URL: 404).
"""

from django.urls import register_converter

MAX_ID = 2**63 - 1


def parse_id(value):
    """`value` as an id, or None when it is not a whole number between 1 and MAX_ID."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= MAX_ID else None


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value):
        number = parse_id(value)
        if number is None:
            raise ValueError(value)  # No match: Django answers 404.
        return number

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "id")
