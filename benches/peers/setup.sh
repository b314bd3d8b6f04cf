#!/usr/bin/env bash
# Creates benches/peers/.venv with the pinned peer tools (requirements.txt).
# Idempotent: does nothing when the venv already matches requirements.txt.
# Needs python3.11 (or $PYTHON) and a C++ compiler: channelattribution 2.2.5
# ships as an sdist whose C++/Cython core is compiled on install.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PYTHON="${PYTHON:-python3.11}"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
command -v "$PYTHON" >/dev/null || { echo "setup.sh: $PYTHON not found (set PYTHON=...)" >&2; exit 1; }
"$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version' \
  || { echo "setup.sh: need Python >= 3.11" >&2; exit 1; }
command -v c++ >/dev/null || { echo "setup.sh: need a C++ compiler to build channelattribution" >&2; exit 1; }

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# numpy/pandas first: channelattribution's build imports numpy for its include path.
"$VENV/bin/python" -m pip install --quiet -r "$REQ"
# channelattribution imports matplotlib without declaring it; mam is imported as `mam`.
"$VENV/bin/python" - <<'PY'
import ChannelAttribution, mam, matplotlib, numpy, pandas, polars  # noqa: F401
print("peer venv ok: ChannelAttribution", ChannelAttribution.__name__, "mam", mam.__name__)
PY
echo "$want" > "$STAMP"
