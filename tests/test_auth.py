"""The login gate (app/auth.py) under AppTest, the account pages, and claims → actor."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.auth import actor_from_claims
from layers.store.accounts import AccountStore, AuthError
from layers.store.actors import DEPARTMENTS, Actor, Role

ROOT = Path(__file__).resolve().parents[1]
MAIN = str(ROOT / "app" / "main.py")
VIEWS = ROOT / "app" / "views"
PW = "gapmap-secret-1"
TIMEOUT = 180
APP_PAGES = {"总览", "通硬化路", "问题清单·整改台账", "数据", "导出"}


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Server mode on a SQLite accounts database with an admin and a township editor."""
    url = f"sqlite:///{tmp_path / 'gapmap.sqlite'}"
    monkeypatch.setenv("GAPMAP_MODE", "server")
    monkeypatch.setenv("GAPMAP_DB_URL", url)
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))
    monkeypatch.delenv("GAPMAP_TRUSTED_HEADERS", raising=False)
    with AccountStore(url) as store:
        admin = store.add_first_admin("admin", password=PW, display_name="李县")
        store.add("王明", role="township", password=PW, townships=["640324103"], by=admin)
    return url


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "caption", "markdown", "error", "info") for e in
             getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def _login(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="auth_username").input(username)
    at.text_input(key="auth_password").input(password)
    at.button[0].click()
    return at.run()


def test_local_mode_has_no_login(tmp_path, monkeypatch):
    monkeypatch.delenv("GAPMAP_MODE", raising=False)
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "auth_username"]
    assert "登录" not in [b.label for b in at.button]
    assert "已登录" not in _texts(at)


def test_server_mode_anonymous_sees_only_login(server):
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["用户名", "密码"]
    assert "请登录" in _texts(at)
    assert not at.sidebar.children or not any(
        getattr(e, "label", "") == "退出登录" for e in at.sidebar.button
    )
    assert not at.dataframe and not at.metric  # no data of the county


def test_wrong_password_then_login_then_logout(server):
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    at = _login(at, "王明", "wrong-password")
    assert [e.value for e in at.error] == ["用户名或密码不正确。"]
    at = _login(at, "nobody", "wrong-password")
    assert [e.value for e in at.error] == ["用户名或密码不正确。"]
    at = _login(at, "王明", PW)
    assert not at.exception, [e.value for e in at.exception]
    assert "已登录：**王明（乡镇填报员）**" in " ".join(c.value for c in at.sidebar.caption)
    assert not [t for t in at.text_input if t.key == "auth_username"]
    at.button(key="auth_logout").click().run()
    assert [t.label for t in at.text_input] == ["用户名", "密码"]
    assert "已退出登录" in _texts(at)
    with AccountStore(server) as store:
        events = store.audit()["event"].tolist()
    assert events[:2] == ["logout", "login_ok"] and events.count("login_failed") == 2


def test_lockout_message_on_the_login_page(server):
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    for _ in range(5):
        at = _login(at, "王明", "wrong-password")
    at = _login(at, "王明", PW)
    assert "已锁定" in at.error[0].value


def _page(name: str, actor: Actor, token: str | None = None) -> AppTest:
    at = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=TIMEOUT)
    at.session_state["_gapmap_auth_actor"] = actor
    if token:
        at.session_state["_gapmap_auth_token"] = token
    return at.run()


def test_accounts_page_admin_adds_and_disables(server):
    with AccountStore(server) as store:
        admin = store.actor("admin")
    at = _page("accounts", admin)
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.dataframe[0].value["用户名"]) == {"admin", "王明"}
    at.text_input(key="acc_username").input("张验收")
    at.selectbox(key="acc_role").set_value(Role.VERIFIER)
    at.text_input(key="acc_password").input("verifier-pass-1")
    at.text_input(key="acc_password_again").input("verifier-pass-1")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "已添加账户「张验收」" in at.success[0].value
    at.selectbox(key="acc_manage_user").set_value("张验收").run()
    at.button(key="acc_disable").click().run()
    assert "已停用" in at.success[0].value
    with AccountStore(server) as store:
        frame = store.accounts().set_index("username")
        assert frame.loc["张验收", "disabled"] and frame.loc["张验收", "created_by"] == "admin"


def test_accounts_page_refuses_non_admin(server):
    with AccountStore(server) as store:
        town = store.actor("王明")
    at = _page("accounts", town)
    assert [e.value for e in at.error] == ["只有县级管理员可以管理账户。"]
    assert not at.dataframe


def test_password_page_changes_own_password(server):
    with AccountStore(server) as store:
        session = store.authenticate("王明", PW)
    at = _page("account_password", session.actor, session.token)
    at.text_input(key="pw_old").input(PW)
    at.text_input(key="pw_new").input("another-pass-2")
    at.text_input(key="pw_again").input("another-pass-2")
    at.button[0].click().run()
    assert not at.exception and at.success[0].value == "密码已修改。"
    with AccountStore(server) as store:
        assert store.session(session.token) is not None  # this session stays
        assert store.authenticate("王明", "another-pass-2")


def test_claims_map_to_actor():
    a = actor_from_claims(
        {
            "preferred_username": "wangming",
            "name": "王明",
            "gapmap_role": "township",
            "gapmap_townships": ["640324103", "640324104"],
        }
    )
    assert a.role is Role.TOWNSHIP and a.townships == {"640324103", "640324104"}
    assert a.display_name == "王明"
    b = actor_from_claims({"sub": "x1", "gapmap_role": "行业部门", "gapmap_department": "水务局"})
    assert (b.username, b.role, b.indicators) == ("x1", Role.DEPARTMENT, DEPARTMENTS["水务局"])
    c = actor_from_claims({"sub": "x2", "gapmap_role": ["offline_access", "verifier"]})
    assert c.role is Role.VERIFIER
    d = actor_from_claims(
        {"uid": "x3", "grp": "viewer"}, names={"username": "uid", "display_name": "n",
                                               "role": "grp", "townships": "t",
                                               "department": "d"}
    )  # fmt: skip
    assert d.role is Role.VIEWER


@pytest.mark.parametrize(
    "claims",
    [
        {"preferred_username": "wm"},  # no role claim: refused, not a viewer
        {"preferred_username": "wm", "gapmap_role": "superuser"},
        {"preferred_username": "wm", "gapmap_role": ["a", "b"]},
        {"preferred_username": "wm", "gapmap_role": "township"},  # no township
    ],
)
def test_claims_without_valid_role_are_refused(claims):
    with pytest.raises(AuthError) as err:
        actor_from_claims(claims)
    assert "角色" in err.value.zh or "乡镇" in err.value.zh
