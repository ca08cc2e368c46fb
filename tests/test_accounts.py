"""Built-in accounts: hashes, lockout, sessions and their expiry, admin-only management, audit.

Every test runs on SQLite and, when ``GAPMAP_TEST_PG_URL`` is set, on a fresh PostgreSQL
database of its own (created from that server, dropped afterwards).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from layers.store.accounts import BAD_LOGIN_ZH, AccountStore, AuthError
from layers.store.actors import DEPARTMENTS, Actor, ActorError, Role
from layers.store.migrate import upgrade
from tests.pg import PG_URL, fresh_database

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # tests only
PW = "gapmap-secret-1"
TOWN = "640324103"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw) -> None:
        self.t += timedelta(**kw)


@pytest.fixture(
    # the server where there is one (.ci/run starts it): the same API there, plus row-level
    # security; SQLite otherwise. Both at once cost the suite time for little more
    params=["postgresql" if PG_URL else "sqlite"]
)
def db_url(request, tmp_path):
    """A fresh, migrated database URL on SQLite, and on PostgreSQL when a server is given."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gapmap.sqlite'}"
        engine = sa.create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    with fresh_database() as url:  # migrated as the owner, as scripts/db.py upgrade does
        yield url


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(db_url, clock):
    with AccountStore(db_url, clock=clock, hasher=FAST) as s:
        yield s


@pytest.fixture
def admin(store):
    return store.add_first_admin("县管理员", password=PW, display_name="李县")


def _town(store, admin, name="王明"):
    return store.add(name, role="township", password=PW, townships=[TOWN], by=admin)


def test_password_is_stored_only_as_argon2id_hash(store, admin, db_url):
    _town(store, admin)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        hashes = conn.exec_driver_sql("SELECT password_hash FROM accounts").scalars().all()
        dump = " ".join(
            str(v)
            for table in ("accounts", "auth_sessions", "auth_events")
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}")
            for v in row
        )
    engine.dispose()
    assert len(hashes) == 2 and all(h.startswith("$argon2id$") for h in hashes)
    assert PW not in dump
    assert "password_hash" not in store.accounts().columns


def test_session_stores_only_the_token_digest(store, admin, db_url):
    sess = store.authenticate("县管理员", PW)
    assert len(sess.token) >= 40 and sess.token not in repr(sess)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_sha256 FROM auth_sessions").scalars().all()
    engine.dispose()
    assert stored and sess.token not in stored and all(len(s) == 64 for s in stored)
    assert store.session(sess.token).actor.role is Role.ADMIN
    assert store.session(stored[0]) is None  # the digest is no token


def test_login_gives_actor_with_role_and_scope(store, admin):
    store.add(
        "水务张", role="department", password=PW, department="水务局", by=admin, display_name="张"
    )
    _town(store, admin)
    t = store.authenticate("王明", PW, client="10.0.0.5").actor
    assert (t.role, t.townships) == (Role.TOWNSHIP, frozenset({TOWN}))
    d = store.authenticate("水务张", PW).actor
    assert (
        d.indicators == DEPARTMENTS["水务局"]
        and "water" in d.indicators
        and d.label == "张（行业部门）"
    )
    ok = store.audit(username="王明")
    assert ok.iloc[0]["event"] == "login_ok" and ok.iloc[0]["client"] == "10.0.0.5"


def test_unknown_user_and_wrong_password_look_the_same(store, admin):
    _town(store, admin)
    with pytest.raises(AuthError) as wrong:
        store.authenticate("王明", "not-the-password")
    with pytest.raises(AuthError) as unknown:
        store.authenticate("张三不存在", "not-the-password")
    assert wrong.value.zh == unknown.value.zh == BAD_LOGIN_ZH
    reasons = store.audit().query("event == 'login_failed'")["reason"].tolist()
    assert sorted(reasons) == ["unknown_user", "wrong_password"]


def test_unknown_user_costs_the_same_time_as_a_wrong_password(db_url):
    """A dummy hash is verified for an unknown user (real argon2id parameters)."""
    with AccountStore(db_url, max_failures=1000) as s:
        s.add_first_admin("admin", password=PW)

        def cost(name):
            times = []
            for _ in range(7):
                t0 = time.perf_counter()
                with pytest.raises(AuthError):
                    s.authenticate(name, "wrong-password-x")
                times.append(time.perf_counter() - t0)
            return statistics.median(times)

        known, unknown = cost("admin"), cost("nobody-here")
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_lockout_after_five_failures_within_window(store, admin, clock):
    _town(store, admin)
    for _ in range(4):
        with pytest.raises(AuthError):
            store.authenticate("王明", "wrong-password")
        clock.advance(minutes=1)
    assert store.authenticate("王明", PW)  # success resets the count
    for _ in range(5):
        with pytest.raises(AuthError):
            store.authenticate("王明", "wrong-password")
    with pytest.raises(AuthError, match="locked") as locked:
        store.authenticate("王明", PW)  # even the right password, while locked
    assert "锁定" in locked.value.zh and "分钟" in locked.value.zh
    assert store.accounts().set_index("username").loc["王明", "locked"]
    assert (store.audit()["event"] == "lockout").sum() == 1
    clock.advance(minutes=15, seconds=1)
    assert store.authenticate("王明", PW).actor.username == "王明"


def test_failures_spread_beyond_the_window_do_not_lock(store, admin, clock):
    _town(store, admin)
    for _ in range(8):
        with pytest.raises(AuthError):
            store.authenticate("王明", "wrong-password")
        clock.advance(minutes=4)  # never 5 within 15 min
    assert store.authenticate("王明", PW)


def test_lockout_limits_from_constructor(db_url, clock):
    with AccountStore(
        db_url, clock=clock, hasher=FAST, max_failures=2, lockout=timedelta(minutes=1)
    ) as s:
        s.add_first_admin("admin", password=PW)
        for _ in range(2):
            with pytest.raises(AuthError):
                s.authenticate("admin", "bad-password")
        with pytest.raises(AuthError, match="locked"):
            s.authenticate("admin", PW)
        clock.advance(minutes=1, seconds=1)
        assert s.authenticate("admin", PW)


def test_admin_enable_clears_lockout(store, admin):
    _town(store, admin)
    for _ in range(5):
        with pytest.raises(AuthError):
            store.authenticate("王明", "wrong-password")
    store.enable("王明", by=admin)
    assert store.authenticate("王明", PW)


def test_session_sliding_idle_expiry(store, admin, clock):
    sess = store.authenticate("县管理员", PW)
    for _ in range(5):  # used every 7 h: stays alive past 8 h in total
        clock.advance(hours=7)
        assert store.session(sess.token) is not None
    clock.advance(hours=8)
    assert store.session(sess.token) is None


def test_session_absolute_expiry(store, admin, clock):
    sess = store.authenticate("县管理员", PW)
    for _ in range(23):  # used every 7 h for 161 h: still within 7 d = 168 h
        clock.advance(hours=7)
        assert store.session(sess.token) is not None
    clock.advance(hours=7)  # 168 h
    assert store.session(sess.token) is None


def test_logout_ends_session_on_server(store, admin):
    a, b = store.authenticate("县管理员", PW), store.authenticate("县管理员", PW)
    store.logout(a.token)
    assert store.session(a.token) is None and store.session(b.token) is not None
    assert store.audit().iloc[0]["event"] == "logout"
    store.logout(a.token)  # twice: harmless
    store.logout("made-up")
    assert (store.audit()["event"] == "logout").sum() == 1


def test_disable_ends_sessions_and_refuses_login(store, admin):
    _town(store, admin)
    sess = store.authenticate("王明", PW)
    store.disable("王明", by=admin)
    assert store.session(sess.token) is None
    with pytest.raises(AuthError) as err:
        store.authenticate("王明", PW)
    assert "停用" in err.value.zh
    with pytest.raises(AuthError) as wrong:
        store.authenticate("王明", "wrong-password")  # a disabled name reveals nothing more
    assert wrong.value.zh == BAD_LOGIN_ZH
    store.enable("王明", by=admin)
    assert store.authenticate("王明", PW)
    events = store.audit(username="王明")["event"].tolist()
    assert "account_disabled" in events and "account_enabled" in events


def test_only_admin_manages_accounts(store, admin):
    town = _town(store, admin)
    for call in (
        lambda: store.add("李四", role="viewer", password=PW, by=town),
        lambda: store.disable("县管理员", by=town),
        lambda: store.enable("王明", by=town),
        lambda: store.reset_password("县管理员", "a-new-password-1", by=town),
        lambda: store.set_role("王明", role="admin", by=town),
    ):
        with pytest.raises(AuthError) as err:
            call()
        assert err.value.zh == "只有县级管理员可以管理账户。"
    refused = store.audit().query("event == 'refused'")
    assert len(refused) == 5 and set(refused["by"]) == {"王明"}
    assert set(store.accounts()["username"]) == {"县管理员", "王明"}
    assert store.actor("王明").role is Role.TOWNSHIP


def test_first_admin_only_once(store, admin):
    with pytest.raises(AuthError) as err:
        store.add_first_admin("second", password=PW)
    assert "已有县级管理员" in err.value.zh
    created = store.audit(username="县管理员").iloc[-1]
    assert (created["event"], created["by"]) == ("account_created", "setup")


def test_password_policy(store, admin):
    for bad in ("short", "王明王明王明王明王明", " 王明王明王明王明王明 "):
        with pytest.raises(AuthError):
            store.add("王明王明王明王明王明", role="viewer", password=bad, by=admin)
    with pytest.raises(AuthError, match="10"):
        store.add("李四", role="viewer", password="123456789", by=admin)
    assert store.add("李四", role="viewer", password="1234567890", by=admin)


def test_role_and_scope_are_checked(store, admin):
    with pytest.raises(ActorError):
        store.add("王五", role="township", password=PW, by=admin)  # no township
    with pytest.raises(ActorError):
        store.add("王五", role="department", password=PW, department="公安局", by=admin)
    with pytest.raises(ActorError):
        store.add("王五", role="superuser", password=PW, by=admin)
    with pytest.raises(AuthError):
        store.add("王 五", role="viewer", password=PW, by=admin)
    _town(store, admin)
    with pytest.raises(AuthError, match="exists"):
        _town(store, admin)


def test_set_password_needs_old_and_ends_other_sessions(store, admin):
    _town(store, admin)
    here, there = store.authenticate("王明", PW), store.authenticate("王明", PW)
    with pytest.raises(AuthError) as err:
        store.set_password("王明", "wrong-old-pw", "another-password-2")
    assert "原密码" in err.value.zh
    store.set_password("王明", PW, "another-password-2", keep_token=here.token)
    assert store.session(here.token) is not None and store.session(there.token) is None
    with pytest.raises(AuthError):
        store.authenticate("王明", PW)
    assert store.authenticate("王明", "another-password-2")


def test_reset_password_by_admin(store, admin):
    _town(store, admin)
    sess = store.authenticate("王明", PW)
    store.reset_password("王明", "reset-password-3", by=admin)
    assert store.session(sess.token) is None
    assert store.authenticate("王明", "reset-password-3")
    assert store.audit(username="王明")["event"].tolist()[1] == "password_reset"


def test_set_role_ends_sessions(store, admin):
    _town(store, admin)
    sess = store.authenticate("王明", PW)
    actor = store.set_role("王明", role="verifier", by=admin)
    assert actor.role is Role.VERIFIER and store.session(sess.token) is None
    assert store.authenticate("王明", PW).actor.role is Role.VERIFIER
    with pytest.raises(AuthError):
        store.set_role("县管理员", role="viewer", by=admin)  # not oneself


def test_admin_cannot_disable_self(store, admin):
    with pytest.raises(AuthError):
        store.disable("县管理员", by=admin)


def test_local_actor_is_admin_for_store(store):
    """Actor.local is an administrator (local mode): it may manage a local store."""
    store.add("王明", role="viewer", password=PW, by=Actor.local("tester"))
    assert store.accounts().iloc[0]["created_by"] == "本机:tester"


def test_accounts_frame(store, admin):
    _town(store, admin)
    store.authenticate("王明", PW)
    frame = store.accounts().set_index("username")
    assert frame.loc["王明", "townships"] == TOWN
    assert frame.loc["王明", "role_zh"] == "乡镇填报员"
    assert frame.loc["王明", "last_login"] is not None
    assert frame.loc["王明", "created_by"] == "县管理员"


def test_external_logins_are_audited(store):
    store.record_external("login_ok", "wangming", reason="oidc", client="10.0.0.9")
    store.record_external("login_failed", "stranger", reason="no_role")
    audit = store.audit()
    assert audit["reason_zh"].tolist() == ["无有效角色", "统一身份认证"]
    with pytest.raises(ValueError):
        store.record_external("account_created", "x")
