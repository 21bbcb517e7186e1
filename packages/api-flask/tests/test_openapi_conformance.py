"""The app against its own OpenAPI document: no 5xx, and every answer conforms to the schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from api_testing import memory_environ
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.schemas import OpenApiSchema

from hitcount.api_flask.app import create_app
from hitcount.core import Runtime

CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            # A schema cannot say that a timestamp must lie within 3 days of now, so a
            # schema-valid hit may rightly be refused.
            "positive_data_acceptance": {"enabled": False},
            # Invalid data is refused with 400, or 413 when it is also too large (a batch
            # of more than 1,000 hits is usually over the body limit as well).
            "negative_data_rejection": {"expected-statuses": [400, 404, 405, 413, 415]},
        }
    }
)


def schema(track_front: str) -> OpenApiSchema:
    """The document of an app whose Track POSTs the WSGI front answers (on), or Flask's views (off)."""
    app = create_app(Runtime.load(memory_environ(HITCOUNT_API_TRACK_FRONT=track_front)))
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)


# Loaded at import: schemathesis makes one test per operation of each.
FRONT = schema("on")
VIEWS = schema("off")
EXAMPLES = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


@FRONT.parametrize()
@EXAMPLES
def test_every_answer_of_the_front_conforms_to_the_openapi_document(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()


@VIEWS.parametrize()
@EXAMPLES
def test_every_answer_of_the_views_conforms_to_the_openapi_document(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()
