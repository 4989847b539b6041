"""How long `connection validate` waits, and how much memory it takes, against a hostile peer.

The CLI runs as a subprocess against the sandbox behind the test suite's
hostile proxy (tests/support/proxy.py), once per misbehaviour, with two
configs: the e2e tests' (``timeout = "2s"``, ``retries = 1``) and the
defaults (``timeout = "10s"``, ``retries = 3``, a 60 s deadline per
request). The table gives the seconds until the process ended, its exit
code, its peak RSS and the reason it printed. A process still running after
``--kill-after`` seconds is killed and shown as such.

    .venv/bin/python benchmarks/hostile_peers.py [--only drip,oversized] [--kill-after 180]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rotator.sandbox import Sandbox
from tests.support.proxy import HostileProxy

CASES: list[tuple[str, dict[str, object]]] = [
    ("pass", {}),
    ("drip", {"interval": 1.0}),
    ("drip_headers", {"interval": 1.0}),
    ("stall", {}),
    ("garbage", {}),
    ("close", {}),
    ("oversized", {"size": 50 * 1024 * 1024}),
    ("oversized", {"size": 50 * 1024 * 1024, "declare": True}),
]
CONFIGS = {
    "e2e (2s, 1 retry)": '[digitalocean]\nretries = 1\ntimeout = "2s"\n',
    "defaults (10s, 3 retries)": "",
}


def run(env: dict[str, str], kill_after: float) -> tuple[float, str, int, str]:
    """Seconds, exit code (or "killed"), peak RSS in MiB, and the reason shown."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "rotator", "connection", "validate", "prod", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > kill_after:
            os.killpg(process.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    seconds = time.monotonic() - started
    stdout = process.stdout.read().decode() if process.stdout else ""
    code = "killed" if killed else str(os.waitstatus_to_exitcode(status))
    try:
        reason = json.loads(stdout)[0]["reason"]
    except (ValueError, LookupError, TypeError):
        reason = "-"
    return seconds, code, usage.ru_maxrss // 1024, reason


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated modes to run")
    parser.add_argument("--kill-after", type=float, default=180.0)
    args = parser.parse_args(argv)
    only = {mode for mode in args.only.split(",") if mode}
    rows = []
    with (
        Sandbox() as sandbox,
        HostileProxy(sandbox.url) as proxy,
        tempfile.TemporaryDirectory() as tmp,
    ):
        home = Path(tmp)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "ROTATOR_STATE_DIR": str(home / "state"),
            "ROTATOR_CONFIG": str(home / "rotator.toml"),
            "ROTATOR_DO_API_URL": proxy.url,
            "ROTATOR_DO_OAUTH_URL": proxy.url,
        }
        (home / "rotator.toml").write_text("")
        rotator = [sys.executable, "-m", "rotator"]
        subprocess.run([*rotator, "init"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*rotator, "connection", "add", "prod", "--token-stdin"],
            env=env,
            input=sandbox.add_token(["account:read"]).encode(),
            check=True,
            capture_output=True,
        )
        for config_name, config in CONFIGS.items():
            (home / "rotator.toml").write_text(config)
            for mode, options in CASES:
                if only and mode not in only:
                    continue
                proxy.clear()
                proxy.add(mode, path="^/v2/account$", **options)
                seconds, code, rss, reason = run(env, args.kill_after)
                label = mode + ("+length" if options.get("declare") else "")
                rows.append((config_name, label, seconds, code, rss, reason))
    print(f"{'config':<26} {'peer':<18} {'seconds':>8} {'exit':>6} {'RSS MiB':>8}  reason")
    for config_name, label, seconds, code, rss, reason in rows:
        print(f"{config_name:<26} {label:<18} {seconds:>8.1f} {code:>6} {rss:>8}  {reason[:90]}")


if __name__ == "__main__":
    main(sys.argv[1:])
