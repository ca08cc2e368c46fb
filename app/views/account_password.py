"""修改密码: the logged-in user changes their own password (built-in accounts only)."""

from __future__ import annotations

import streamlit as st

from app.auth import account_store, current_actor, current_session
from layers.store.accounts import PASSWORD_MIN_CHARS, AuthError

actor = current_actor()
st.title("修改密码")
session = current_session()
if session is None:
    st.info("当前登录方式的密码由统一身份认证系统管理，请在那里修改。")
    st.stop()
st.caption(
    f"账户：{actor.label}。新密码至少 {PASSWORD_MIN_CHARS} 个字符，且不能与用户名相同；"
    "修改后，您在其他设备上的登录将全部结束。"
)
with st.form("password_change", clear_on_submit=True):
    old = st.text_input("原密码", type="password", key="pw_old", autocomplete="current-password")
    new = st.text_input("新密码", type="password", key="pw_new", autocomplete="new-password")
    again = st.text_input("再次输入新密码", type="password", key="pw_again")
    submitted = st.form_submit_button("修改密码", type="primary")
if submitted:
    if new != again:
        st.error("两次输入的新密码不一致，密码未修改。")
    else:
        try:
            account_store().set_password(
                actor.username, old, new, keep_token=session.token, client="app"
            )
        except AuthError as err:
            st.error(err.zh)
        else:
            st.success("密码已修改。")
