"""The app against its own OpenAPI document: no 5xx, and every answer conforms to the schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

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


# Loaded at import: schemathesis makes one test per operation. Every request comes from one
# address, faster than the default read rate limit lets one address read, so the limit is off:
# a 429 would answer before the request is looked at (test_rate_limit.py tests the limit).
APP = create_app(
    Runtime.load({"HITCOUNT_QUEUE": "memory", "HITCOUNT_STORE": "memory", "HITCOUNT_READ_RATE_LIMIT": "off"})
)
SCHEMA = schemathesis.openapi.from_wsgi("/openapi.json", APP, config=CONFIG)


@SCHEMA.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_conforms_to_the_openapi_document(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()
