#!/usr/bin/env bash
# 一键测试：安装依赖和 Chromium（浏览器测试用，来自 Debian 软件包），然后运行代码检查和全部测试。
# One command: install everything (incl. Debian's chromium for browser tests), lint, run all tests.
source "$(dirname "$0")/_env.sh"
if [ ! -x /usr/bin/chromium ]; then
  echo "[gapmap] installing Debian chromium for the browser tests" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
ruff check .
ruff format --check .
exec python -m pytest "$@"
