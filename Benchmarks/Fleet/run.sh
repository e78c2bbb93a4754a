#!/usr/bin/env bash
# Issue 11's fleet run: 10,000 simulated devices through `netbackup` into a git archive and file store.
#
#   Benchmarks/Fleet/run.sh [DEVICES] [CONCURRENCY]      (defaults: 10000 200)
#
# `netbackup simulate --devices N --config-size 2000` serves the fleet in its own process (mixed vendors, as the
# demo); `netbackup backup --max-concurrent 200` backs it up three times: into a new archive, again with nothing
# changed, and after 1 % of the devices changed their configuration (the simulator restarted with a different
# seed for those devices is not possible, so the third run changes 1 % of the archived files on disk instead:
# the backup writes them back and commits exactly those). Each run: wall time, devices/s, CPU of netbackup
# (git included, from /usr/bin/time), simulator CPU, peak RSS, the commit's time (from the task's timestamps and
# git's log), and checks: exit 0, every result ok, one commit holding every file / none / exactly the changed ones,
# every result of a committing run carries the commit id. Release builds, loopback only.
set -euo pipefail
devices=${1:-10000}
concurrency=${2:-200}
root=$(cd "$(dirname "$0")/../.." && pwd)
cli="$root/Examples/netbackup"
work=$(mktemp -d /tmp/fleet-benchmark.XXXXXX)
sim_pid=""
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

(cd "$cli" && swift build -c release --product netbackup >/dev/null)
netbackup="$cli/.build/release/netbackup"
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Many sessions at once: raise the open-file limit for both processes (each session is a socket).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

"$netbackup" simulate --devices "$devices" --config-size 2000 --inventory "$work/inventory.json" >"$work/simulate.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 900); do [ -s "$work/inventory.json" ] && break; sleep 0.2; done
[ -s "$work/inventory.json" ] || { cat "$work/simulate.log"; exit 1; }

echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs, $devices devices, concurrency $concurrency"
echo
echo "| run | seconds | devices/s | netbackup CPU s (incl. git) | CPU ms/device | peak RSS MiB | simulator CPU ms/device | commit s | files in commit |"
echo "|---|---|---|---|---|---|---|---|---|"
run_backup() {
    local label=$1
    local sim0 sim1
    sim0=$(cpu_of "$sim_pid")
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$netbackup" backup --inventory "$work/inventory.json" \
        --max-concurrent "$concurrency" --allow-concurrency "$concurrency" --retries 0 --host-key-policy accept-any \
        --store "$work/store" --archive "$work/git" --json >"$work/task.json" 2>"$work/progress.log" || {
        echo "netbackup exited $? in run '$label'"; tail -5 "$work/progress.log"; exit 1; }
    sim1=$(cpu_of "$sim_pid")
    read -r wall user sys rss <"$work/time"
    python3 - "$work/task.json" "$work/git" "$label" "$devices" >"$work/check" <<'EOF'
import json, subprocess, sys, datetime
task = json.load(open(sys.argv[1])); repo = sys.argv[2]; label = sys.argv[3]; n = int(sys.argv[4])
assert task["status"] == "completed", (task["status"], task["message"])
assert task["success_count"] == n, task["success_count"]
results = task["results"]
commits = {r.get("git_commit_id") for r in results if r.get("changed")}
changed = sum(1 for r in results if r.get("changed"))
files = 0
commit_seconds = 0.0
if changed:
    assert len(commits) == 1 and None not in commits, commits
    commit = commits.pop()
    out = subprocess.run(["git", "-C", repo, "show", "--name-only", "--format=", commit], capture_output=True, text=True, check=True).stdout
    files = len([l for l in out.splitlines() if l.strip()])
    assert files == changed, (files, changed)
    last = max(datetime.datetime.fromisoformat(r["finished_at"].replace("Z", "+00:00")) for r in results)
    done = datetime.datetime.fromisoformat(task["completed_at"].replace("Z", "+00:00"))
    commit_seconds = (done - last).total_seconds()
else:
    assert all(r.get("git_commit_id") is None for r in results)
print(f"{commit_seconds:.2f} {files}")
EOF
    read -r commit_s files <"$work/check"
    awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" -v s0="$sim0" -v s1="$sim1" -v t="$ticks" -v n="$devices" \
        -v c="$commit_s" -v f="$files" 'BEGIN {
        printf "| %s | %.1f | %.0f | %.1f | %.2f | %d | %.2f | %s | %s |\n", l, w, n / w, u + s, (u + s) * 1000 / n, m / 1024, (s1 - s0) * 1000 / t / n, c, f }'
}
run_backup "new archive"
run_backup "unchanged"
# 1 % changed: alter that many archived files; the backup restores them and commits exactly those.
python3 - "$work/git" "$devices" <<'EOF'
import os, sys
repo, n = sys.argv[1], int(sys.argv[2])
files = sorted(f for f in os.listdir(repo) if f.endswith(".cfg"))
for name in files[:: 100][: max(1, n // 100)]:
    with open(os.path.join(repo, name), "a") as f: f.write("! changed by the benchmark\n")
EOF
git -C "$work/git" -c user.name=bench -c user.email=bench@localhost commit -qam "benchmark: change 1 %"
run_backup "1 % changed"
echo
echo "commits in the archive: $(git -C "$work/git" rev-list --count HEAD) (first backup, the benchmark's change, the 1 % backup)"
