#!/usr/bin/env bash
# 一键测试：安装依赖和 Chromium（浏览器测试用，来自 Debian 软件包），然后运行代码检查和全部测试。
# One command: install everything (incl. Debian's chromium for browser tests), lint, run all tests.
source "$(dirname "$0")/_env.sh"
# Debian packages the tests use: chromium (browser tests) with Chinese fonts (else the
# screenshots show boxes for every Chinese character, and the PDF reports need them),
# gdal-bin (gdaldem, the reference the terrain slopes are checked against) and
# poppler-utils (pdftotext/pdffonts/pdftoppm read the PDF reports back); each checked on its own
NEED=""
[ -x /usr/bin/chromium ] || NEED="chromium"
command -v dpkg >/dev/null && ! dpkg -s fonts-noto-cjk >/dev/null 2>&1 && NEED="$NEED fonts-noto-cjk"
command -v gdaldem >/dev/null || NEED="$NEED gdal-bin"
command -v pdftotext >/dev/null || NEED="$NEED poppler-utils"
NEED="${NEED# }"
if [ -n "$NEED" ]; then
  echo "[gapmap] installing Debian packages for the tests: $NEED" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $NEED >/dev/null
fi
ruff check .
ruff format --check .
exec python -m pytest -n "${GAPMAP_TEST_WORKERS:-2}" "$@"
