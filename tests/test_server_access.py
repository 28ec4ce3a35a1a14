"""Admin access: the admin token, the dashboard's login cookie and one-time links (the
signed values, and the endpoints through the app in process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import service_settings
from prism.server.access import COOKIE, COOKIE_LIFETIME_S, LINK_LIFETIME_S, AdminAccess
from prism.server.app import create_app

ADMIN = {"Authorization": "Bearer admin-secret"}


def test_cookies_expire_and_cannot_be_forged() -> None:
    now = [1_000_000.0]
    access = AdminAccess("admin-secret", clock=lambda: now[0])
    cookie = access.cookie()
    assert access.cookie_ok(cookie) and "admin-secret" not in cookie
    expiry, nonce, mac = cookie.split(".")
    assert not access.cookie_ok(f"{int(expiry) + 3600}.{nonce}.{mac}")  # a longer life
    assert not access.cookie_ok(f"{expiry}.{nonce}.{'0' * len(mac)}")
    assert not access.redeem(cookie)  # a cookie is not a link
    assert not AdminAccess("admin-secret").cookie_ok(cookie)  # another process's key
    now[0] += COOKIE_LIFETIME_S + 1
    assert not access.cookie_ok(cookie)


def test_processes_sharing_a_secret_accept_each_others_cookies() -> None:
    secret = "s" * 32
    one, two = AdminAccess("admin", secret=secret), AdminAccess("admin", secret=secret)
    assert two.cookie_ok(one.cookie())
    assert not AdminAccess("admin", secret="t" * 32).cookie_ok(one.cookie())


def test_a_link_works_once_and_for_five_minutes() -> None:
    now = [1_000_000.0]
    access = AdminAccess("admin-secret", clock=lambda: now[0])
    link = access.link()
    assert access.redeem(link) and not access.redeem(link)
    late = access.link()
    now[0] += LINK_LIFETIME_S + 1
    assert not access.redeem(late)


@pytest.mark.parametrize("token", [None, ""], ids=["none", "empty"])
def test_without_an_admin_token_nothing_is_accepted(token: str | None) -> None:
    access = AdminAccess(token)
    assert not access.token_ok(token) and not access.token_ok("x")
    assert not access.cookie_ok(access.cookie()) and not access.redeem(access.link())


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = service_settings(admin_token="admin-secret", database=":memory:", warm_up_sessions=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_dashboard_needs_a_login_not_a_token_in_its_address(client: TestClient) -> None:
    login_page = client.get("/dashboard?token=admin-secret")
    assert login_page.status_code == 200 and 'id="login"' in login_page.text
    assert client.get("/v1/dashboard/sessions").status_code == 401
    assert client.post("/v1/dashboard/login", json={"token": "wrong"}).status_code == 401
    assert client.post("/v1/dashboard/login").status_code == 401
    logged_in = client.post("/v1/dashboard/login", json={"token": "admin-secret"})
    assert logged_in.status_code == 200
    set_cookie = logged_in.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=") and "admin-secret" not in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
    assert f"Max-Age={COOKIE_LIFETIME_S}" in set_cookie
    page = client.get("/dashboard")
    assert "PrISM dashboard" in page.text and 'id="session-list"' in page.text
    assert client.get("/v1/dashboard/sessions").json() == []
    client.cookies.clear()
    bearer = client.post("/v1/dashboard/login", headers=ADMIN)  # the token as a bearer
    assert bearer.status_code == 200 and COOKIE in bearer.cookies
    client.cookies.clear()
    assert client.get("/v1/dashboard/sessions", headers=ADMIN).json() == []
    # the cookie is for the dashboard, not for registering devices
    client.cookies.set(COOKIE, client.app.state.access.cookie())  # type: ignore[attr-defined]
    assert client.post("/v1/devices", json={"name": "w"}).status_code == 401


def test_a_one_time_link_logs_a_browser_in_once(client: TestClient) -> None:
    link = client.app.state.access.link()  # type: ignore[attr-defined]
    first = client.get(f"/dashboard/login?link={link}&session=ses-0123", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/dashboard?session=ses-0123"
    assert COOKIE in first.cookies
    client.cookies.clear()
    again = client.get(f"/dashboard/login?link={link}", follow_redirects=False)
    assert again.status_code == 401 and 'id="login"' in again.text
    other = client.app.state.access.link()  # type: ignore[attr-defined]
    redirected = client.get(
        f"/dashboard/login?link={other}&session=//evil.example", follow_redirects=False
    )
    assert redirected.headers["location"] == "/dashboard"  # never elsewhere
