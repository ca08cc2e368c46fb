#!/usr/bin/env bash
# 一键启动：创建虚拟环境、安装依赖、（如缺失）生成演示数据，然后在 http://localhost:8501 启动应用。
# One command: venv + install + build the demo data if missing + start the app.
source "$(dirname "$0")/_env.sh"
if [ ! -f data/demo/tongxin.gpkg ]; then
  echo "[gapmap] building the 同心县 demo data" >&2
  python -m scripts.build_demo
fi
# The PDF reports embed a Chinese font (Debian's fonts-noto-cjk); install it when missing
if command -v dpkg >/dev/null && ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
  echo "[gapmap] installing Debian's fonts-noto-cjk (Chinese font of the PDF reports)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      fonts-noto-cjk >/dev/null; } || echo "[gapmap] 未能安装 fonts-noto-cjk：PDF 报告将无法生成" >&2
fi
# Local mode: listens on this machine only (127.0.0.1); no login, so not on the network.
exec streamlit run app/main.py --server.port "${PORT:-8501}" --server.address 127.0.0.1 \
  --server.headless true "$@"
