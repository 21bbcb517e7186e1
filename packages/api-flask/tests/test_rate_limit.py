"""HITCOUNT_RATE_LIMIT per client address, and HITCOUNT_TRUSTED_PROXIES deciding whose X-Forwarded-For tells it."""

from __future__ import annotations

from ipaddress import ip_network

import orjson
import pytest
from api_testing import AppFactory, queued_hits, rejected

from hitcount.api_flask.proxies import TrustedProxies, parse_networks
from hitcount.api_flask.ratelimit import Rate, RateLimiter, parse_rate
from hitcount.api_flask.settings import RATE_LIMIT, READ_RATE_LIMIT, TRUSTED_PROXIES
from hitcount.core import Config, ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("50/s", Rate(50, 1.0)),
        (" 3000 / m ", Rate(3000, 60.0)),
        ("10/h", Rate(10, 3600.0)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_a_rate_is_a_count_per_second_minute_or_hour_or_off(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "50", "0/s", "50/d", "fast", "-1/s", "1.5/s"])
def test_a_malformed_rate_names_the_setting(text: str) -> None:
    with pytest.raises(ConfigError, match="HITCOUNT_RATE_LIMIT"):
        Config({"HITCOUNT_RATE_LIMIT": text}).get(RATE_LIMIT)


def test_an_address_may_send_a_burst_of_the_count_then_at_the_limits_pace() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(3, 1.0), "HITCOUNT_RATE_LIMIT", clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1 / 3)
    assert limiter.take("b") == 0.0  # another address has its own bucket
    clock.now += 1 / 3
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 10
    assert [limiter.take("a") for _ in range(4)][-1] > 0  # refilled to the count, not beyond


def test_refused_requests_do_not_push_the_next_token_further_away() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 1.0), "HITCOUNT_RATE_LIMIT", clock=clock)
    assert limiter.take("a") == 0.0
    for _ in range(100):
        limiter.take("a")
    clock.now += 1.0
    assert limiter.take("a") == 0.0


def test_the_limiter_forgets_addresses_whose_bucket_refilled() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(10, 1.0), "HITCOUNT_RATE_LIMIT", clock=clock)
    for n in range(1000):
        limiter.take(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) == 1000
    clock.now += 1.0
    limiter.take("10.9.9.9")
    assert len(limiter) == 1


PROXIES = TrustedProxies(parse_networks("10.0.0.0/8, ::1"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # not a proxy: its header is its own claim
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"),  # right-most untrusted
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4"),  # every hop a proxy: the left-most
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "garbage", "garbage"),
    ],
)
def test_x_forwarded_for_is_read_from_the_right_and_only_from_trusted_proxies(
    peer: str, forwarded: str | None, client: str
) -> None:
    environ = {"REMOTE_ADDR": peer, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})}
    assert PROXIES.client(environ) == client


def test_without_trusted_proxies_x_forwarded_for_is_ignored() -> None:
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert TrustedProxies(()).client(environ) == "10.0.0.2"


def test_trusted_proxies_are_addresses_and_cidr_blocks() -> None:
    config = Config({"HITCOUNT_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1, ::1"})
    assert config.get(TRUSTED_PROXIES) == (ip_network("10.0.0.0/8"), ip_network("192.168.1.1"), ip_network("::1"))
    with pytest.raises(ConfigError, match="HITCOUNT_TRUSTED_PROXIES"):
        Config({"HITCOUNT_TRUSTED_PROXIES": "proxy.example"}).get(TRUSTED_PROXIES)


@pytest.mark.parametrize("path", ["/analytics", "/analytics/batch"])
def test_over_the_limit_track_is_a_json_429_with_retry_after_and_nothing_is_counted(
    make_app: AppFactory, path: str
) -> None:
    app = make_app(HITCOUNT_RATE_LIMIT="2/m")
    client = app.test_client()
    body = b'[{"id": "x"}]' if path.endswith("batch") else b'{"id": "x"}'
    before = rejected("rate_limited")
    assert [client.post(path, data=body).status_code for _ in range(2)] == [204, 204]
    refused = client.post(path, data=body)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"
    assert "HITCOUNT_RATE_LIMIT" in orjson.loads(refused.data)["message"]
    assert len(queued_hits(app)) == 2
    assert rejected("rate_limited") - before == 1


def test_each_client_address_has_its_own_limit(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_RATE_LIMIT="1/m").test_client()
    first = {"REMOTE_ADDR": "198.51.100.1"}
    assert client.post("/analytics", json={"id": "x"}, environ_base=first).status_code == 204
    assert client.post("/analytics", json={"id": "x"}, environ_base=first).status_code == 429
    assert client.post("/analytics", json={"id": "x"}, environ_base={"REMOTE_ADDR": "198.51.100.2"}).status_code == 204


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_RATE_LIMIT="1/m", HITCOUNT_TRUSTED_PROXIES="10.0.0.0/8").test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}

    def post(forwarded: str) -> int:
        headers = {"X-Forwarded-For": forwarded}
        return client.post("/analytics", json={"id": "x"}, headers=headers, environ_base=proxy).status_code

    assert post("198.51.100.1") == 204
    assert post("198.51.100.2") == 204
    assert post("6.6.6.6, 198.51.100.1") == 429  # what the client wrote on the left does not count


def test_without_a_limit_one_address_is_never_refused(make_app: AppFactory) -> None:
    client = make_app().test_client()
    assert {client.post("/analytics", json={"id": "x"}).status_code for _ in range(200)} == {204}


def test_reads_are_not_rate_limited(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_RATE_LIMIT="1/m").test_client()
    assert {client.get("/analytics/x").status_code for _ in range(5)} == {200}


@pytest.mark.parametrize(
    ("written", "address"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("198.51.100.7:5678", "198.51.100.7"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("[::ffff:198.51.100.7]:443", "198.51.100.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:80", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("unknown", "unknown"),
    ],
)
def test_a_client_address_is_told_in_one_spelling_whatever_the_proxy_wrote(written: str, address: str) -> None:
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": written}
    assert PROXIES.client(environ) == address
    assert TrustedProxies(()).client({"REMOTE_ADDR": written}) == address


def test_a_trusted_proxy_written_with_its_port_is_still_skipped() -> None:
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 10.0.0.3:8080"}
    assert PROXIES.client(environ) == "198.51.100.1"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("198.51.100.7", "198.51.100.7:5678"),
        ("198.51.100.7", "::ffff:198.51.100.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"),  # one /64
        ("[2001:db8::1]:80", "2001:db8::1"),
    ],
)
def test_spellings_of_one_client_share_one_bucket(first: str, second: str) -> None:
    limiter = RateLimiter(Rate(1, 60.0), "HITCOUNT_RATE_LIMIT", clock=Clock())
    assert limiter.take(first) == 0.0
    assert limiter.take(second) > 0


def test_ipv6_clients_are_limited_per_prefix_of_the_configured_length() -> None:
    limiter = RateLimiter(Rate(1, 60.0), "HITCOUNT_RATE_LIMIT", ipv6_prefix=48, clock=Clock())
    assert limiter.take("2001:db8:1:2::1") == 0.0
    assert limiter.take("2001:db8:1:ffff::1") > 0  # same /48
    assert limiter.take("2001:db8:2::1") == 0.0
    assert RateLimiter(Rate(1, 60.0), "HITCOUNT_RATE_LIMIT", ipv6_prefix=128).take("2001:db8::2") == 0.0


def test_behind_a_proxy_that_writes_ports_each_client_keeps_one_limit(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_RATE_LIMIT="10/m", HITCOUNT_TRUSTED_PROXIES="10.0.0.0/8").test_client()
    statuses = [
        client.post(
            "/analytics",
            json={"id": "x"},
            headers={"X-Forwarded-For": f"198.51.100.1:{40000 + n}"},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        ).status_code
        for n in range(20)
    ]
    assert statuses.count(204) == 10
    assert statuses.count(429) == 10


def test_over_the_read_limit_a_read_is_a_429_with_retry_after_naming_the_setting(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_READ_RATE_LIMIT="2/m").test_client()
    assert [client.get(path).status_code for path in ("/analytics/a", "/badge.svg?id=b")] == [200, 200]
    for path in ("/analytics/c", "/badge.svg?id=c"):
        refused = client.get(path)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "30"
    assert "HITCOUNT_READ_RATE_LIMIT" in orjson.loads(client.get("/analytics/c").data)["message"]
    # A badge says it in its own words, for an <img> (a JSON answer would be a broken image).
    badge = client.get("/badge.svg?id=c")
    assert badge.content_type == "image/svg+xml"
    assert "over HITCOUNT_READ_RATE_LIMIT</title>" in badge.get_data(as_text=True)
    other = {"REMOTE_ADDR": "198.51.100.2"}
    assert client.get("/analytics/a", environ_base=other).status_code == 200


def test_reads_and_track_requests_have_limits_of_their_own(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_RATE_LIMIT="1/m", HITCOUNT_READ_RATE_LIMIT="1/m").test_client()
    assert client.post("/analytics", json={"id": "x"}).status_code == 204
    assert client.get("/analytics/x").status_code == 200
    assert client.post("/analytics", json={"id": "x"}).status_code == 429
    assert client.get("/analytics/x").status_code == 429


def test_reads_are_limited_by_default() -> None:
    assert Config({}).get(READ_RATE_LIMIT) == Rate(100, 1.0)
