#!/usr/bin/env bash
# Dependency audit: every package installed in .venv (what the tests run against, the editable
# project itself excepted) checked by pip-audit against PyPI's vulnerability data (the PyPA
# advisory database, OSV format). Fails on any known vulnerability not accepted below, and fails
# when the audit cannot run at all: a check that could not look must never read as "clean".
#
# Run after the test environment exists (`make .venv/.test`; .ci/run does both). pip-audit lives
# in a venv of its own (build/audit-venv), so installing it never changes the packages the tests
# use and it is not a dependency of the project.
#
# Exit codes: 0 no known vulnerability (or only accepted ones); 1 vulnerabilities found or
# pip-audit failed; 2 no test environment; 3 the vulnerability service cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
AUDIT_VENV=${AUDIT_VENV:-build/audit-venv}
PIP_AUDIT_VERSION=2.10.1
PYPI_JSON=${PYPI_JSON:-https://pypi.org/pypi}

# Accepted advisories. Accept one only with a reason it does not apply here (the vulnerable
# code is never reached, or another control stops it), who decided and when to look again;
# never to make CI green. One entry per line, the reason as a comment on the same line:
#   "GHSA-xxxx-xxxx-xxxx"  # <package> <version>: <why it does not apply>; <who>, review <date>
IGNORED_VULNS=(
)

if [ ! -x "$VENV/bin/python" ]; then
  echo "audit: no test environment at $VENV; build it first with 'make $VENV/.test'" >&2
  exit 2
fi

if [ ! -x "$AUDIT_VENV/bin/pip-audit" ] ||
  ! "$AUDIT_VENV/bin/pip-audit" --version 2>/dev/null | grep -qx "pip-audit $PIP_AUDIT_VERSION"; then
  echo "audit: installing pip-audit $PIP_AUDIT_VERSION into $AUDIT_VENV" >&2
  python3 -m venv "$AUDIT_VENV"
  "$AUDIT_VENV/bin/python" -m pip install --quiet --upgrade pip
  "$AUDIT_VENV/bin/python" -m pip install --quiet "pip-audit==$PIP_AUDIT_VERSION"
fi

# pip-audit's default service asks PyPI's JSON API for each release
# (GET https://pypi.org/pypi/<name>/<version>/json) and, when that answers 404, skips the package
# and can still print "No known vulnerabilities found". Check the API first, and run with
# --strict below so a skipped package fails the audit instead of passing silently.
pip_version=$("$AUDIT_VENV/bin/python" -c "import importlib.metadata as m; print(m.version('pip'))")
probe="$PYPI_JSON/pip/$pip_version/json"
if ! reason=$("$AUDIT_VENV/bin/python" - "$probe" <<'PY'
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=30) as response:
        if b'"vulnerabilities"' not in response.read():
            print("answered without vulnerability data")
            sys.exit(1)
except urllib.error.HTTPError as exc:
    print(f"answered HTTP {exc.code}")
    sys.exit(1)
except OSError as exc:
    print(f"could not be reached ({exc})")
    sys.exit(1)
PY
); then
  echo "audit: FAILED, nothing was checked: PyPI's per-release JSON API ($probe) $reason." >&2
  echo "audit: pip-audit's vulnerability service needs it; this network must allow" \
    "https://pypi.org/pypi/<name>/<version>/json (or run with -s osv where api.osv.dev is" \
    "reachable). Not treating an audit that could not look as a pass." >&2
  exit 3
fi

# The environment as installed, pinned, without the editable project (it is not on PyPI, and a
# package of the same name there would be audited in its place).
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
"$VENV/bin/python" -m pip list --format=freeze --exclude-editable --disable-pip-version-check |
  grep -v -i '^consentcam==' >"$requirements"
echo "audit: $(wc -l <"$requirements") packages installed in $VENV" >&2

ignore_args=()
for id in "${IGNORED_VULNS[@]}"; do
  ignore_args+=(--ignore-vuln "$id")
done

# --no-deps --disable-pip: audit exactly these pins, without resolving or installing anything.
"$AUDIT_VENV/bin/pip-audit" \
  --requirement "$requirements" --no-deps --disable-pip \
  --strict --progress-spinner off --desc on \
  "${ignore_args[@]}"
