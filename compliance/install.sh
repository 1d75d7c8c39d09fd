#!/usr/bin/env bash
# Install the Autobahn Testsuite (a Python 2.7 program) under compliance/.venv-py2, if missing.
#
# Idempotent: every step checks first and does nothing when its result is already there.
#   1. python2.7 + python2.7-dev from Debian 11 "bullseye", through a private apt source list
#      (the machine's own Debian mirror, suite bullseye) passed on the command line, so that
#      /etc/apt stays untouched; the package lists go to a temporary directory.
#   2. virtualenv<20.22 (the last series that creates 2.7 environments), installed with the
#      machine's python3 pip into compliance/.venv-virtualenv (a private target directory).
#   3. A 2.7 virtualenv compliance/.venv-py2 with the pins of compliance/requirements-py2.txt.
# Afterwards compliance/.venv-py2/bin/wstest runs. Needs root for apt-get (or python2.7 already
# installed), gcc (the accelerate extra builds wsaccel and ujson) and python3 with pip.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="$HERE/.venv-py2"
VENV_TOOL="$HERE/.venv-virtualenv"
REQS="$HERE/requirements-py2.txt"
PY3="${PYTHON3:-python3}"
START=$(date +%s)

say() { echo "[autobahn install] $*"; }

wstest_ok() {
    [ -x "$VENV/bin/wstest" ] && [ -f "$VENV/.requirements-py2.txt" ] &&
        cmp -s "$REQS" "$VENV/.requirements-py2.txt" &&
        "$VENV/bin/python" -c "import autobahntestsuite, autobahn, twisted" >/dev/null 2>&1
}

if wstest_ok; then
    say "already installed: $VENV/bin/wstest (nothing to do)"
    exit 0
fi

# --- 1. Python 2.7 from Debian 11 ------------------------------------------------------------
PY2=/usr/bin/python2.7
if [ -x "$PY2" ] && [ -f /usr/include/python2.7/Python.h ]; then
    say "python2.7 and its headers already installed: $("$PY2" -V 2>&1)"
else
    # The machine's own Debian mirror: the first URI of a non-security Debian source.
    MIRROR=""
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        MIRROR=$(
            {
                sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' "$f" | tr ' ' '\n'
                sed -n 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' "$f"
            } | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1
        ) || true
        [ -n "$MIRROR" ] && break
    done
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
    MIRROR="${MIRROR%/}"
    say "installing python2.7 and python2.7-dev from $MIRROR bullseye (private source list, /etc/apt untouched)"
    APT_TMP=$(mktemp -d)
    trap 'rm -rf "$APT_TMP"' EXIT
    mkdir -p "$APT_TMP/lists/partial"
    KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f /usr/share/keyrings/debian-archive-bullseye-stable.gpg ] &&
        KEYRING=/usr/share/keyrings/debian-archive-bullseye-stable.gpg
    echo "deb [signed-by=$KEYRING] $MIRROR bullseye main" >"$APT_TMP/bullseye.list"
    APT_OPTS=(
        -o "Dir::Etc::SourceList=$APT_TMP/bullseye.list"
        -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$APT_TMP/lists"
        -o "Dir::Cache::pkgcache="
        -o "Dir::Cache::srcpkgcache="
        -o "APT::Get::List-Cleanup=0"
        -o "APT::Sandbox::User=root"
    )
    apt-get "${APT_OPTS[@]}" -q update
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" -q -y --no-install-recommends \
        install python2.7 python2.7-dev
    say "installed: $("$PY2" -V 2>&1)"
fi

# --- 2. virtualenv<20.22 in a private target directory ---------------------------------------
if PYTHONPATH="$VENV_TOOL" "$PY3" -c "import virtualenv" >/dev/null 2>&1; then
    say "virtualenv already in $VENV_TOOL"
else
    say "installing 'virtualenv<20.22' into $VENV_TOOL with $("$PY3" -V)"
    rm -rf "$VENV_TOOL"
    # --isolated: the user's pip configuration and PIP_* variables (local wheel directories
    # here) do not apply; the global one (/etc/pip.conf: certificates) still does.
    "$PY3" -m pip --isolated install -q --disable-pip-version-check --root-user-action=ignore \
        --target "$VENV_TOOL" 'virtualenv<20.22'
fi

# --- 3. The 2.7 virtualenv and the suite ----------------------------------------------------
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sys; assert sys.version_info[:2] == (2, 7)" 2>/dev/null; then
    say "creating the Python 2.7 virtualenv $VENV"
    rm -rf "$VENV"
    PYTHONPATH="$VENV_TOOL" "$PY3" -m virtualenv -q -p "$PY2" "$VENV"
fi
say "installing the suite: pip install -r $REQS"
# --isolated, as above.
"$VENV/bin/python" -m pip --isolated install -q --no-cache-dir --disable-pip-version-check \
    --no-python-version-warning -r "$REQS"
cp "$REQS" "$VENV/.requirements-py2.txt"

if ! wstest_ok; then
    say "FAILED: wstest is not usable after the install"
    exit 1
fi
"$VENV/bin/wstest" --help >/dev/null
say "done in $(($(date +%s) - START)) s: $VENV/bin/wstest"
