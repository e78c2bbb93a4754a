#!/usr/bin/env bash
# The status page's browser tests: builds backup-server, starts it on 127.0.0.1 (a free port, a random
# token, the demo network slowed down so the progress is visible), waits for /health, runs
# test_status_page.py in headless Chromium, and always stops the server.
#
# Needs: chromium, chromium-driver (/usr/bin/chromedriver) and selenium for Python 3 — Debian 12:
#   apt-get install chromium chromium-driver python3-selenium
# (or `pip install selenium`; the tests always use the system chromedriver, never Selenium Manager).
#
# Environment: BACKUP_SERVER_BIN (skip the build, use this binary), PYTHON (an interpreter with selenium),
# DEMO_LATENCY_MS (default 600), SCREENSHOT_DIR (default /tmp), BROWSER_TEST_TIMEOUT (seconds per wait, 120).
# Extra arguments go to unittest, e.g. `run.sh -k test_b`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
started=$(date +%s)

# A Python with selenium: $PYTHON, python3 on PATH, or Debian's /usr/bin/python3 (python3-selenium).
python=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import selenium' 2>/dev/null; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "run.sh: no Python 3 with selenium (apt-get install python3-selenium, or pip install selenium)" >&2
    exit 1
fi
for tool in "${CHROMIUM:-/usr/bin/chromium}" "${CHROMEDRIVER:-/usr/bin/chromedriver}"; do
    [ -x "$tool" ] || { echo "run.sh: $tool is missing (apt-get install chromium chromium-driver)" >&2; exit 1; }
done

binary=${BACKUP_SERVER_BIN:-}
if [ -z "$binary" ]; then
    (cd "$package" && swift build --product backup-server)
    binary="$(cd "$package" && swift build --show-bin-path)/backup-server"
fi

workdir=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        # Graceful shutdown takes a moment; do not wait forever.
        for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
# The token goes through the environment, not the command line (ps shows arguments).
BACKUP_SERVER_TOKEN=$token "$binary" --host 127.0.0.1 --port 0 --demo-latency-ms "${DEMO_LATENCY_MS:-600}" \
    --log-level info >"$workdir/server.log" 2>&1 &
server_pid=$!

# --port 0: the server logs the port it got ("backup-server listening on http://127.0.0.1:NNNNN").
url=""
for _ in $(seq 1 600); do
    url=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$workdir/server.log" 2>/dev/null | head -1 | sed 's/^listening on //') || true
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$workdir/server.log" >&2; echo "run.sh: the server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { cat "$workdir/server.log" >&2; echo "run.sh: the server did not start" >&2; exit 1; }

"$python" - "$url" <<'EOF'
import sys, time, urllib.request
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(sys.argv[1] + "/health", timeout=5) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("run.sh: /health did not answer within 60 s")
    time.sleep(0.2)
EOF
echo "run.sh: backup-server at $url (pid $server_pid), python $python"

status=0
(cd "$here" && BACKUP_SERVER_URL=$url BACKUP_SERVER_TOKEN=$token "$python" -m unittest -v test_status_page "$@") || status=$?
if [ $status -ne 0 ]; then
    echo "--- server log (last 40 lines) ---" >&2
    tail -40 "$workdir/server.log" >&2
fi
echo "run.sh: browser tests finished in $(( $(date +%s) - started )) s (exit $status)"
exit $status
