# Shared set-up for serve.sh and test.sh: a project virtual environment with the pinned stack.
# Sourced, not run. Creates .venv on first use; re-installs only when requirements change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON_BIN="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[gapmap] creating virtual environment .venv" >&2
  "$PYTHON_BIN" -m venv .venv
fi
STAMP=".venv/.gapmap-installed"
if [ ! -f "$STAMP" ] || ! cmp -s requirements.txt "$STAMP"; then
  echo "[gapmap] installing requirements (pinned in requirements.txt)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  .venv/bin/python -m pip install --quiet --no-deps -e .
  cp requirements.txt "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
