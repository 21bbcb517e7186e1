"""Secrets kept out of text: whole URLs shown masked, and configured secret values masked in any text."""

from __future__ import annotations

import pytest

from hitcount.core.masking import Secrets, mask_url, url_secrets

# Passwords redis-py accepts in a URL as written, and that end a URL to anyone guessing where it ends.
AWKWARD = ["Zq9,Xk7 Lm3", 'it\'s"quoted"', "a<b>c>d", "p@ss@word", "semi;colon(paren)."]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:****@cache:6379/0"),
        ("http://elastic:p%40ss@[::1]:9200", "http://elastic:****@[::1]:9200"),
        ("redis://cache/0?password=hunter2", "redis://cache/0?password=****"),
        ("redis://cache/0?db=1&Password=hunter2&x=1", "redis://cache/0?db=1&Password=****&x=1"),
        (
            "https://es:9200/?api_key=abc&Access-Token=def&client_secret=ghi",
            "https://es:9200/?api_key=****&Access-Token=****&client_secret=****",
        ),
        ("https://es:9200/?APIKEY=abc&monkey=1", "https://es:9200/?APIKEY=****&monkey=****"),
        ("https://es:9200/?size=10&timeout=1s", "https://es:9200/?size=10&timeout=1s"),
        ("unix:///run/redis.sock?password=hunter2", "unix:///run/redis.sock?password=****"),
        ("http://u:hunter2@[::1:9200", "http://****"),
        ("http://user@host:9200", "http://user@host:9200"),
        *((f"redis://:{password}@127.0.0.1:6379/0", "redis://:****@127.0.0.1:6379/0") for password in AWKWARD),
        ("redis://u:Zq9%2CXk7%20Lm3@cache:6379/0", "redis://u:****@cache:6379/0"),
    ],
)
def test_a_whole_url_is_shown_with_its_password_and_secret_parameters_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize("password", AWKWARD)
def test_the_password_of_a_url_is_a_secret_whatever_characters_it_holds(password: str) -> None:
    assert password in url_secrets(f"redis://:{password}@127.0.0.1:6379/0")


def test_a_percent_encoded_secret_is_a_secret_as_written_and_as_clients_decode_it() -> None:
    secrets = url_secrets("redis://:Zq9%2CXk7%20Lm3@cache:6379/0?token=a+b%2Bc")
    assert {"Zq9%2CXk7%20Lm3", "Zq9,Xk7 Lm3", "a+b%2Bc", "a b+c", "a+b+c"} <= secrets


@pytest.mark.parametrize("password", AWKWARD)
def test_every_occurrence_of_a_secret_is_masked_in_any_text(password: str) -> None:
    url = f"redis://:{password}@127.0.0.1:6379/0"
    secrets = Secrets.of_urls([url])
    text = f"redis queue {url}: publish failed: cannot parse '{url}' (auth {password!r})"
    masked = secrets.mask(text)
    assert password not in masked
    assert masked.startswith("redis queue redis://:****@127.0.0.1:6379/0: publish failed")


def test_the_longest_secret_is_masked_first_so_that_no_part_of_it_is_left() -> None:
    assert Secrets(["abcd", "abcdefgh"]).mask("x abcdefgh y abcd") == "x **** y ****"


def test_values_too_short_to_be_secrets_are_left_in_free_text() -> None:
    secrets = Secrets.of_urls(["https://es:9200/?monkey=1"])
    assert not secrets
    assert secrets.mask("127.0.0.1") == "127.0.0.1"


def test_secrets_combine() -> None:
    assert (Secrets(["hunter2"]) | Secrets(["tiger42"])).mask("hunter2 tiger42") == "**** ****"


def test_a_secret_is_masked_as_repr_escapes_it_too() -> None:
    password = 'it\'s"quoted"\\'
    assert Secrets([password]).mask(f"auth with {password!r} refused") == "auth with '****' refused"
