#!/usr/bin/env python3
"""Benchmark today's Python network-automation tools on the DeviceBackup workload.

Workload (the one DeviceBackup was measured on): N simulated Cisco IOS devices
served by `netbackup simulate` on 127.0.0.1, each device: connect over SSH
(host-key checking off, as in DeviceBackup's own benchmark run), enter enable
mode with the enable secret, disable paging, fetch `show running-config`,
close. A config counts as complete when it is longer than 190,000 bytes and has
a line that is exactly `end`.

Start the simulator first (it runs until SIGINT/SIGTERM):

    netbackup simulate --devices 1000 --vendors cisco_ios --config-size 200000 \
        --latency-ms 20 --inventory /tmp/cmp/inv.json

Then, in a venv with `pip install netmiko scrapli`:

    python python_tools_benchmark.py --tool netmiko --inventory /tmp/cmp/inv.json
    python python_tools_benchmark.py --tool scrapli --inventory /tmp/cmp/inv.json
    python python_tools_benchmark.py --tool scrapli --scrapli-transport ssh2 ...

Tools, each with its documented defaults plus only what is needed to work:

* netmiko: ConnectHandler(device_type="cisco_ios", secret=...) in a
  ThreadPoolExecutor(max_workers=concurrency). Connecting already runs
  `terminal width 511` and `terminal length 0` (netmiko's session
  preparation); then .enable(), send_command("show running-config"),
  disconnect(). Netmiko's default ssh_strict=False auto-adds unknown host keys.
* scrapli (2.x, the libscrapli/Zig based releases versioned 2025+; the 1.x
  line with asyncssh transport is not what `pip install scrapli` gives today):
  scrapli.Cli(definition_file_or_name="cisco_iosxe") used from asyncio, with
  an asyncio.Semaphore(concurrency). Opening runs the definition's on-open
  steps: enter privileged_exec (`enable` + enable secret from the auth lookup
  `enable`), `term width 512`, `term len 0`; then
  send_input_async("show running-config"), close. Default transport "bin"
  spawns the system `ssh` binary per connection (scrapli passes
  StrictHostKeyChecking=no, UserKnownHostsFile=/dev/null by default); "ssh2"
  uses libssh2 in-process.

Measured over the timed run only (a warm-up of --warmup devices comes first
and is not reported): wall time, devices/s, CPU of this Python process
(getrusage RUSAGE_SELF user+sys) and of its reaped child processes
(RUSAGE_CHILDREN, which is where scrapli's `ssh` processes land), peak RSS
(ru_maxrss of this process, plus a sampled peak of this process + all its
descendants' PSS, which matters when a tool forks one `ssh` per device), the
simulator's CPU (utime+stime from /proc/<pid>/stat), failures by exception
type, and the load average before and after.

Prints versions, a details block, and one markdown table row on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib.metadata
import json
import os
import platform
import re
import resource
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIN_CONFIG_BYTES = 190_000


# --------------------------------------------------------------------------- helpers


def version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def check_config(text: str) -> None:
    """Raise IncompleteConfig unless the running-config is complete."""
    if len(text) <= MIN_CONFIG_BYTES:
        raise IncompleteConfig(f"only {len(text)} bytes")
    if not any(line.strip() == "end" for line in text.splitlines()):
        raise IncompleteConfig("no 'end' line")


class IncompleteConfig(Exception):
    pass


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # comm may contain spaces; fields after the closing paren start at field 3
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat
    return (utime + stime) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent not idle/iowait since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return (sum(vals[:8]) - idle) / CLK_TCK


def find_simulator_pid() -> int | None:
    """The `netbackup simulate` process, found by its command line (read only)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"netbackup") and b"simulate" in argv:
            return int(entry)
    return None


def descendants_pss_bytes(root: int) -> int:
    """PSS (proportional set size) of root plus all its descendant processes.

    PSS, not RSS: one `ssh` process per device shares most of its pages with
    the others, and summing RSS would count those shared pages 100 times.
    """
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            children[int(stat[stat.rindex(")") + 2 :].split()[1])].append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class RssSampler(threading.Thread):
    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.is_set():
            try:
                self.peak = max(self.peak, descendants_pss_bytes(me))
            except Exception:  # a sampler must never break the run
                pass
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


REASONS: collections.Counter = collections.Counter()


def note_reason(name: str, exc: BaseException) -> None:
    """Count failures by type + message with numbers blanked (e.g. which scrapli step timed out)."""
    msg = re.sub(r"\d+", "N", str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    REASONS[f"{name}: {msg[:90]}"] += 1


def error_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")


# --------------------------------------------------------------------------- netmiko


def netmiko_one(device: dict, defaults: dict, args: argparse.Namespace) -> None:
    from netmiko import ConnectHandler

    conn = ConnectHandler(
        device_type="cisco_ios",
        host=device["host"],
        port=device["port"],
        username=defaults["username"],
        password=defaults["password"],
        secret=defaults["enable_password"],
        # defaults kept: ssh_strict=False (AutoAddPolicy), fast_cli=True,
        # global_delay_factor=1, conn_timeout=10, read_timeout_override=None
    )
    try:
        conn.enable()
        out = conn.send_command("show running-config")
    finally:
        conn.disconnect()
    check_config(out)


def run_netmiko(devices: list[dict], defaults: dict, args: argparse.Namespace) -> collections.Counter:
    failures: collections.Counter = collections.Counter()
    examples: dict[str, str] = {}

    def task(d: dict) -> None:
        try:
            netmiko_one(d, defaults, args)
        except Exception as exc:  # noqa: BLE001 - we count every failure
            name = error_name(exc)
            note_reason(name, exc)
            failures[name] += 1
            examples.setdefault(name, f"{d['name']}: {str(exc).strip()[:300]}")

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(task, devices))
    for name, example in examples.items():
        print(f"  failure example {name}: {example}", file=sys.stderr)
    return failures


# --------------------------------------------------------------------------- scrapli


async def scrapli_one(device: dict, defaults: dict, args: argparse.Namespace) -> None:
    from scrapli import Cli
    from scrapli.auth import LookupKeyValue
    from scrapli.auth import Options as AuthOptions
    from scrapli.transport import BinOptions, Ssh2Options

    transport = Ssh2Options() if args.scrapli_transport == "ssh2" else BinOptions()
    cli = Cli(
        device["host"],
        port=device["port"],
        definition_file_or_name="cisco_iosxe",  # scrapli's IOS/IOS-XE platform
        auth_options=AuthOptions(
            username=defaults["username"],
            password=defaults["password"],
            lookups=[LookupKeyValue(key="enable", value=defaults["enable_password"])],
        ),
        transport_options=transport,
    )
    # open: connect, enable (via the 'enable' lookup), term width 512, term len 0
    async with cli:
        result = await cli.send_input_async("show running-config")
    check_config(result.result)


async def run_scrapli_async(devices: list[dict], defaults: dict, args: argparse.Namespace) -> collections.Counter:
    failures: collections.Counter = collections.Counter()
    examples: dict[str, str] = {}
    sem = asyncio.Semaphore(args.concurrency)

    async def task(d: dict) -> None:
        async with sem:
            try:
                await scrapli_one(d, defaults, args)
            except Exception as exc:  # noqa: BLE001
                name = error_name(exc)
                note_reason(name, exc)
                failures[name] += 1
                examples.setdefault(name, f"{d['name']}: {str(exc).strip()[:300]}")

    await asyncio.gather(*(task(d) for d in devices))
    for name, example in examples.items():
        print(f"  failure example {name}: {example}", file=sys.stderr)
    return failures


def run_scrapli(devices: list[dict], defaults: dict, args: argparse.Namespace) -> collections.Counter:
    return asyncio.run(run_scrapli_async(devices, defaults, args))


# --------------------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tool", choices=["netmiko", "scrapli"], required=True)
    p.add_argument("--scrapli-transport", choices=["bin", "ssh2"], default="bin",
                   help="scrapli 2 transport: bin (default; system ssh) or ssh2 (libssh2)")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--inventory", default="/tmp/cmp/inv.json")
    p.add_argument("--warmup", type=int, default=20, help="devices fetched first, not reported")
    p.add_argument("--sim-pid", type=int, default=None,
                   help="simulator pid for its CPU (default: find `netbackup simulate`)")
    p.add_argument("--header", action="store_true", help="print the markdown table header")
    args = p.parse_args()

    with open(args.inventory) as f:
        inv = json.load(f)
    defaults = inv["defaults"]
    all_devices = inv["devices"]
    if args.devices > len(all_devices):
        p.error(f"inventory has only {len(all_devices)} devices")
    devices = all_devices[: args.devices]
    warm = all_devices[: args.warmup]

    tool_label = args.tool if args.tool == "netmiko" else f"scrapli ({args.scrapli_transport})"
    run = run_netmiko if args.tool == "netmiko" else run_scrapli

    vers = {k: version(k) for k in ("netmiko", "paramiko", "scrapli", "asyncssh", "cryptography")}
    print(f"# python {platform.python_version()} ({sys.executable}); "
          + ", ".join(f"{k} {v}" for k, v in vers.items()), file=sys.stderr)
    if args.tool == "scrapli" and args.scrapli_transport == "bin":
        import subprocess
        ssh_v = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
        print(f"# scrapli bin transport uses: {ssh_v}", file=sys.stderr)

    sim_pid = args.sim_pid or find_simulator_pid()
    if sim_pid is None:
        print("warning: simulator pid not found; simulator CPU not measured", file=sys.stderr)

    # warm-up (not reported)
    if warm:
        t = time.perf_counter()
        wf = run(warm, defaults, args)
        print(f"# warm-up {len(warm)} devices in {time.perf_counter() - t:.2f}s, failures {dict(wf)}",
              file=sys.stderr)

    load_before = os.getloadavg()
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sim0 = proc_cpu_seconds(sim_pid) if sim_pid else 0.0
    busy0 = machine_busy_seconds()
    sampler = RssSampler()
    sampler.start()
    t0 = time.perf_counter()

    REASONS.clear()
    failures = run(devices, defaults, args)

    wall = time.perf_counter() - t0
    sampler.stop()
    sim1 = proc_cpu_seconds(sim_pid) if sim_pid else 0.0
    busy1 = machine_busy_seconds()
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()

    n = len(devices)
    ok = n - sum(failures.values())
    py_cpu = (self1.ru_utime - self0.ru_utime) + (self1.ru_stime - self0.ru_stime)
    kid_cpu = (kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime)
    sim_cpu = sim1 - sim0
    peak_rss_mb = self1.ru_maxrss / 1024  # Linux: KiB
    tree_rss_mb = sampler.peak / (1024 * 1024)
    fail_txt = ", ".join(f"{k}×{v}" for k, v in failures.most_common()) or "0"
    load_txt = f"{load_before[0]:.2f}→{load_after[0]:.2f}"
    # CPU used on this machine during the run by everything except this
    # benchmark (incl. reaped children) and the simulator: other work competing
    others_cores = max(0.0, (busy1 - busy0) - py_cpu - kid_cpu - sim_cpu) / wall

    print(f"# {tool_label}: {n} devices, concurrency {args.concurrency}, ok {ok}, wall {wall:.2f}s, "
          f"{n / wall:.1f} devices/s; python CPU {py_cpu:.2f}s ({1000 * py_cpu / n:.1f} ms/device), "
          f"child-process CPU {kid_cpu:.2f}s ({1000 * kid_cpu / n:.1f} ms/device); "
          f"ru_maxrss {peak_rss_mb:.0f} MB, sampled peak PSS incl. children {tree_rss_mb:.0f} MB; "
          f"simulator CPU {sim_cpu:.2f}s ({1000 * sim_cpu / n:.1f} ms/device); "
          f"load1 {load_txt}; other processes used {others_cores:.2f} of {os.cpu_count()} cores; failures {dict(failures)}", file=sys.stderr)

    for reason, count in REASONS.most_common():
        print(f"#   {count:5d} × {reason}", file=sys.stderr)
    if args.header:
        print("| tool | devices/s | client CPU ms/device (python + child procs) | peak RSS MB "
              "(python ru_maxrss; PSS python+children) | simulator CPU ms/device | failures | wall s | load1 before→after | other procs' cores |")
        print("|---|---|---|---|---|---|---|---|---|")
    ver = vers["netmiko"] + " / paramiko " + vers["paramiko"] if args.tool == "netmiko" else vers["scrapli"]
    print(f"| {tool_label} {ver} | {n / wall:.1f} | {1000 * (py_cpu + kid_cpu) / n:.1f} "
          f"({1000 * py_cpu / n:.1f} + {1000 * kid_cpu / n:.1f}) | {peak_rss_mb:.0f}; {tree_rss_mb:.0f} "
          f"| {1000 * sim_cpu / n:.1f} | {fail_txt} | {wall:.1f} | {load_txt} | {others_cores:.2f} |")
    return 0 if not failures else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        traceback.print_exc()
        sys.exit(130)
