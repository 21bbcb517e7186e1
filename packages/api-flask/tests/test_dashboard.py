"""GET /: the dashboard's page, script and stylesheet, which load and call nothing but the API's own origin."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from hitcount.core import WINDOWS


def test_the_page_offers_every_window_and_all_time(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    page = response.get_data(as_text=True)
    for window in WINDOWS:
        assert f'<option value="{window.name}">{window.reference}</option>' in page
    assert '<option value="total">all time</option>' in page
    assert '<script defer src="/dashboard.js">' in page


@pytest.mark.parametrize(
    ("path", "kind"), [("/", "text/html"), ("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")]
)
def test_each_file_may_load_and_call_only_its_own_origin_and_is_revalidated_by_its_etag(
    client: FlaskClient, path: str, kind: str
) -> None:
    response = client.get(path)
    assert response.content_type.startswith(kind)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
