"""The limits are written once: docs/limits.md, the OpenAPI document and the forms follow them."""

from __future__ import annotations

import re
from pathlib import Path

from statuspage.core import limits
from statuspage.web.api_v1 import openapi

DOC = Path(__file__).resolve().parent.parent / "docs" / "limits.md"


def test_the_docs_table_lists_every_limit_with_its_value():
    rows = re.findall(r"^\| `(\w+)` \| ([\d,]+) \| (.+?) \|$", DOC.read_text(), re.M)
    documented = {name: (int(value.replace(",", "")), what) for name, value, what in rows}
    assert documented == {limit.name: (limit.value, limit.what) for limit in limits.LIMITS}


def test_every_limit_in_the_table_is_the_constant_of_that_name():
    for limit in limits.LIMITS:
        assert getattr(limits, limit.name) == limit.value, limit.name


def test_the_openapi_document_states_the_limits_of_titles_bodies_and_values():
    schemas = openapi.document("https://status.example.com")["components"]["schemas"]
    create = schemas["CreateIncident"]["properties"]
    assert create["title"]["maxLength"] == limits.MAX_TITLE
    assert create["body"]["maxLength"] == limits.MAX_BODY
    assert create["variables"]["additionalProperties"]["maxLength"] == limits.MAX_VALUE


def test_the_compose_form_takes_its_maxlength_from_the_limits():
    template = Path(__file__).resolve().parent.parent / "templates/admin/incidents/compose.html"
    text = template.read_text()
    assert 'maxlength="{{ limits.MAX_TITLE }}"' in text
    assert 'maxlength="{{ limits.MAX_VALUE }}"' in text
    assert not re.search(r'maxlength="\d', text)
