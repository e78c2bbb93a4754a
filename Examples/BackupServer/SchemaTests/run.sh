#!/usr/bin/env bash
# Fuzzes backup-server's API with schemathesis against its own openapi.yaml (issue 11).
#
# Builds the example server, starts it on 127.0.0.1 on a free port with a random token, the demo network
# (mock transport, 1 ms per device, 1 ms retry backoff) and an in-memory store, then runs schemathesis
# (pinned version, in a virtualenv of its own) with a bounded number of examples per operation and every
# check it has (`--checks all`): no 5xx, every status, content type, header and body as documented,
# invalid input rejected, valid input accepted, authentication enforced, 405 for undeclared methods. The
# few documented exceptions are in schemathesis.toml beside this script, each with its reason. Afterwards
# the server must still be live and ready, and must stop cleanly (exit 0) on SIGTERM: no crash.
#
# Exits non-zero on any failure; the last line is "N passed, M failed".
#
# Usage: Examples/BackupServer/SchemaTests/run.sh
#   SCHEMA_TESTS_SCRATCH   SwiftPM scratch path for the server build (default: <package>/.build)
#   SCHEMA_TESTS_VENV      virtualenv for schemathesis (default: <scratch>/schemathesis-venv)
#   SCHEMA_TESTS_EXAMPLES  examples per operation and phase (default: 100)
#   SCHEMA_TESTS_SEED      hypothesis seed (default: 11)
#   SCHEMA_TESTS_SKIP_BUILD=1  use the already built binary
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
scratch=${SCHEMA_TESTS_SCRATCH:-$package/.build}
venv=${SCHEMA_TESTS_VENV:-$scratch/schemathesis-venv}
examples=${SCHEMA_TESTS_EXAMPLES:-100}
seed=${SCHEMA_TESTS_SEED:-11}
schemathesis_version=4.32.5
work=$(mktemp -d "${TMPDIR:-/tmp}/backup-server-schema.XXXXXX")
server_pid=""

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# 1. schemathesis, pinned, in its own virtualenv (PyPI through pip).
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version $schemathesis_version"; then
    echo "Installing schemathesis $schemathesis_version into $venv"
    python3 -m venv "$venv" || { echo "python3 -m venv failed (Debian: apt-get install python3-venv)"; echo "0 passed, 1 failed"; exit 1; }
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"; then
        echo "pip could not install schemathesis==$schemathesis_version from PyPI"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

# 2. The server.
cd "$package"
if [[ "${SCHEMA_TESTS_SKIP_BUILD:-0}" != 1 ]]; then
    swift build --scratch-path "$scratch" --product backup-server
fi
binary="$(swift build --scratch-path "$scratch" --show-bin-path)/backup-server"
[[ -x "$binary" ]] || { echo "no backup-server binary at $binary"; echo "0 passed, 1 failed"; exit 1; }

token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
BACKUP_SERVER_TOKEN="$token" "$binary" --host 127.0.0.1 --port 0 --demo-latency-ms 1 --retry-base-delay-ms 1 --log-level notice \
    --public-dir "$package/Public" --openapi-file "$package/openapi.yaml" >"$work/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 300); do
    port=$(sed -n 's#.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$work/server.log" | head -n 1)
    [[ -n "$port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$port" ]]; then
    cat "$work/server.log"
    echo "the server did not start"
    echo "0 passed, 1 failed"
    exit 1
fi
base="http://127.0.0.1:$port"
echo "backup-server (pid $server_pid) on $base"

# 3. schemathesis.
set +e
"$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$package/openapi.yaml" \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$examples" \
    --seed "$seed" \
    --generation-database none \
    --workers 2 \
    --request-timeout 30 \
    --no-color \
    --output-truncate false \
    --report junit --report-junit-path "$work/junit.xml" \
    2>&1 | tee "$work/schemathesis.log"
st_status=${PIPESTATUS[0]}
set -e

# Per operation, from the JUnit report: an operation passes when schemathesis found nothing in it.
if [[ -f "$work/junit.xml" ]]; then
    read -r st_passed st_failed < <(python3 - "$work/junit.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ok = bad = 0
for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        bad += 1
        print("FAIL:", case.get("name"), file=sys.stderr)
    else:
        ok += 1
print(ok, bad)
EOF
)
    passed=$((passed + st_passed))
    failed=$((failed + st_failed))
    echo "schemathesis: $st_passed operations without findings, $st_failed with findings (exit $st_status)"
    if [[ "$st_status" -ne 0 && "$st_failed" -eq 0 ]]; then fail "schemathesis exited $st_status"; fi
else
    fail "schemathesis wrote no report (exit $st_status)"
fi

# 4. The server survived and stops cleanly.
probe() { # URL → prints "status body"; exit 0 when the status is 200
    python3 - "$1" <<'EOF2'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        status, body = response.status, response.read().decode()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read().decode()
except Exception as error:
    status, body = 0, str(error)
print(status, body)
sys.exit(0 if status == 200 else 1)
EOF2
}
if kill -0 "$server_pid" 2>/dev/null && live=$(probe "$base/health/live"); then
    pass "the server is still live after the fuzzing"
else
    fail "the server died or stopped answering: ${live:-no answer}"
fi
if ready=$(probe "$base/health/ready"); then
    pass "the server is still ready"
else
    fail "the server is not ready after the fuzzing: $ready"
fi
kill -TERM "$server_pid" 2>/dev/null || true
set +e
wait "$server_pid"
server_status=$?
set -e
server_pid=""
if [[ "$server_status" -eq 0 ]]; then pass "the server stopped cleanly on SIGTERM"; else fail "the server exited $server_status"; fi
if grep -E "Fatal error|fatal error|Segmentation|Illegal instruction|request failed" "$work/server.log" >/dev/null; then
    fail "the server log shows a crash or an unexpected error:"
    grep -E "Fatal error|fatal error|Segmentation|Illegal instruction|request failed" "$work/server.log" | head -n 20
else
    pass "no crash or unexpected error in the server log"
fi

echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
