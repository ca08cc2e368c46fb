"""账户管理 (county administrators): list, add, disable/enable, reset passwords, the audit."""

from __future__ import annotations

import streamlit as st

from app.auth import account_store, current_actor
from geo.labels import beijing_text
from layers.errors import GapMapError
from layers.store.accounts import PASSWORD_MIN_CHARS
from layers.store.actors import DEPARTMENTS, ROLE_ZH, Role

actor = current_actor()
st.title("账户管理")
if actor.role is not Role.ADMIN:
    st.error("只有县级管理员可以管理账户。")
    st.stop()
store = account_store()

COLUMNS = {
    "username": "用户名",
    "display_name": "姓名",
    "role_zh": "角色",
    "townships": "乡镇",
    "department": "部门",
    "disabled": "已停用",
    "locked": "已锁定",
    "last_login": "最近登录",
    "created_by": "创建人",
    "created_at": "创建时间",
}
frame = store.accounts()[list(COLUMNS)].copy()
for col in ("last_login", "created_at"):  # stored in UTC: shown in Beijing time
    frame[col] = frame[col].map(beijing_text)
st.dataframe(
    frame.rename(columns=COLUMNS),
    hide_index=True,
    width="stretch",
    key="accounts_table",
)


def _done(message: str) -> None:
    st.session_state["accounts_notice"] = message


notice = st.session_state.pop("accounts_notice", None)
if notice:
    st.success(notice)

add, manage, audit = st.tabs(["添加账户", "停用 / 启用 / 重置密码", "登录与操作记录"])
with add, st.form("accounts_add", clear_on_submit=False):
    c1, c2 = st.columns(2)
    username = c1.text_input("用户名（登录名）", key="acc_username")
    display_name = c2.text_input("姓名", key="acc_display_name")
    role = c1.selectbox(
        "角色", list(Role), format_func=lambda r: ROLE_ZH[r], key="acc_role", index=4
    )
    townships = c2.text_input(
        "所管乡镇代码（乡镇填报员；多个用逗号分隔）", key="acc_townships", placeholder="640324103"
    )
    department = c1.selectbox(
        "部门（行业部门）", ["", *DEPARTMENTS], key="acc_department", format_func=lambda d: d or "—"
    )
    p1, p2 = st.columns(2)
    password = p1.text_input(
        f"初始密码（至少 {PASSWORD_MIN_CHARS} 个字符）", type="password", key="acc_password"
    )
    again = p2.text_input("再次输入", type="password", key="acc_password_again")
    if st.form_submit_button("添加账户", type="primary"):
        if password != again:
            st.error("两次输入的密码不一致。")
        else:
            try:
                created = store.add(
                    username,
                    role=role,
                    password=password,
                    display_name=display_name,
                    townships=[t for t in townships.replace("，", ",").split(",") if t.strip()],
                    department=department or None,
                    by=actor,
                    client="app",
                )
            except GapMapError as err:
                st.error(err.zh)
            else:
                _done(f"已添加账户「{created.username}」：{created.label}。")
                st.rerun()

with manage:
    names = frame["username"].tolist()
    who = st.selectbox("账户", names, key="acc_manage_user", index=None, placeholder="选择账户")
    if who:
        me = actor.username
        row = frame.set_index("username").loc[who]
        b1, b2 = st.columns(2)
        try:
            if row["disabled"]:
                if b1.button("启用", key="acc_enable"):
                    store.enable(who, by=actor, client="app")
                    _done(f"已启用「{who}」。")
                    st.rerun()
            elif b1.button("停用（并结束其登录）", key="acc_disable", disabled=who == me):
                store.disable(who, by=actor, client="app")
                _done(f"已停用「{who}」，其登录已全部结束。")
                st.rerun()
            if row["locked"] and b2.button("解除锁定", key="acc_unlock"):
                store.enable(who, by=actor, client="app")
                _done(f"已解除「{who}」的锁定。")
                st.rerun()
        except GapMapError as err:
            st.error(err.zh)
        with st.form("accounts_reset", clear_on_submit=True):
            new = st.text_input("新密码", type="password", key="acc_reset_password")
            new2 = st.text_input("再次输入", type="password", key="acc_reset_again")
            if st.form_submit_button("重置密码"):
                if new != new2:
                    st.error("两次输入的密码不一致。")
                else:
                    try:
                        store.reset_password(who, new, by=actor, client="app")
                    except GapMapError as err:
                        st.error(err.zh)
                    else:
                        _done(f"已重置「{who}」的密码，其登录已全部结束。")
                        st.rerun()

with audit:
    events = store.audit(limit=500)
    events = events.assign(at=events["at"].map(beijing_text))
    st.dataframe(
        events[["at", "event_zh", "reason_zh", "username", "by", "client", "detail"]].rename(
            columns={
                "at": "时间（北京时间）",
                "event_zh": "事件",
                "reason_zh": "原因",
                "username": "用户",
                "by": "操作人",
                "client": "来源",
                "detail": "详情",
            }
        ),
        hide_index=True,
        width="stretch",
        key="accounts_audit",
    )
