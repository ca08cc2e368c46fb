"""OpenID Connect in the browser: st.login through a provider stub (tests/oidc_stub.py).

The role and scope come from the id_token's claims; a user without a GapMap role claim is
refused in Chinese (never let in as a viewer).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from layers.store.accounts import AccountStore
from tests.e2e.conftest import ARTIFACTS, WORKER, open_sidebar, wait_for_app
from tests.e2e.test_login import _free_port, serve
from tests.oidc_stub import OIDCStub

pytestmark = pytest.mark.e2e

TOWN = "640324103"
_DB: dict[str, str] = {}


@pytest.fixture(scope="module")
def oidc_app(tmp_path_factory) -> Iterator[tuple[str, OIDCStub]]:
    tmp = tmp_path_factory.mktemp("oidc")
    port = _free_port()
    with OIDCStub(client_id="gapmap", client_secret=secrets.token_urlsafe(16)) as idp:
        (tmp / "secrets.toml").write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
            f'client_id = "{idp.client_id}"\n'
            f'client_secret = "{idp.client_secret}"\n'
            f'server_metadata_url = "{idp.metadata_url}"\n',
            encoding="utf-8",
        )
        env = {
            "GAPMAP_MODE": "server",
            "GAPMAP_DB_URL": f"sqlite:///{tmp / 'gapmap.sqlite'}",
            "GAPMAP_LEDGER_DIR": str(ARTIFACTS / f"ledger-oidc-{WORKER}"),
        }
        args = ("--secrets.files", str(tmp / "secrets.toml"))
        with serve("oidc", env, port=port, args=args) as url:
            _DB[url] = env["GAPMAP_DB_URL"]
            yield url, idp


def _audit(url: str) -> set[tuple[str, str, str]]:
    with AccountStore(_DB[url]) as store:
        audit = store.audit()
    return set(zip(audit["event"], audit["username"], audit["reason"], strict=True))


def _oidc_login(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1024, "height": 768})
    page = ctx.new_page()
    page.goto(url)
    page.get_by_role("button", name="使用统一身份认证登录").wait_for(timeout=60_000)
    wait_for_app(page)
    page.get_by_role("button", name="使用统一身份认证登录").click()
    return ctx, page


def test_oidc_login_gives_role_from_claims(oidc_app, browser):
    url, idp = oidc_app
    idp.user = {
        "sub": "kc-0001",
        "preferred_username": "wangming",
        "name": "王明",
        "gapmap_role": "township",
        "gapmap_townships": [TOWN],
    }
    ctx, page = _oidc_login(browser, url)
    page.get_by_text("已登录").wait_for(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "王明（乡镇填报员）" in sidebar and TOWN in sidebar
    assert "修改密码" not in sidebar  # the identity provider keeps the password
    assert {"/authorize", "/token", "/jwks"} <= set(idp.requests)
    page.screenshot(path=str(ARTIFACTS / "login-oidc-township.png"))
    assert ("login_ok", "wangming", "oidc") in _audit(url)
    open_sidebar(page)
    page.get_by_role("button", name="退出登录").click()
    page.get_by_role("button", name="使用统一身份认证登录").wait_for(timeout=60_000)
    ctx.close()


def test_oidc_user_without_role_claim_is_refused(oidc_app, browser):
    url, idp = oidc_app
    idp.user = {"sub": "kc-0002", "preferred_username": "stranger", "name": "某人"}
    ctx, page = _oidc_login(browser, url)
    page.get_by_text("没有 GapMap 角色").wait_for(timeout=120_000)
    wait_for_app(page)
    text = page.locator("[data-testid='stApp']").inner_text()
    assert "总览" not in text and "问题清单" not in text and "已登录" not in text
    page.screenshot(path=str(ARTIFACTS / "login-oidc-refused.png"))
    assert ("login_failed", "stranger", "no_role") in _audit(url)
    ctx.close()
