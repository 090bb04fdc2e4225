"""Every code the engine can fail a result with has its own message for the user, in English and Chinese (a
missing one would show the generic "something went wrong" with nothing the user can act on)."""

import pytest
from django.utils import translation

import inference
from jobs.errors import MESSAGES, message_for


@pytest.mark.parametrize("code", sorted(cls.code for cls in inference.ALL_ERRORS))
def test_each_engine_error_code_has_a_translated_message(code):
    assert code in MESSAGES
    english = message_for(code)
    with translation.override("zh-hans"):
        chinese = message_for(code)
    assert english and chinese != english
