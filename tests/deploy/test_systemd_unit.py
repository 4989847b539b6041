"""systemd/rotator.service: what it promises, how systemd judges it, and
whether rotator still works inside the limits it sets.

There is no systemd running as PID 1 here, so the unit is checked three
ways: its text; ``systemd-analyze verify`` and ``security --offline``
(which read unit files without a running manager); and rotator run under
the unit's seccomp, W^X and socket limits by ``confine.py``.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from rotator.sandbox.ports import free_port
from rotator.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "rotator.service"
CONFINE = Path(__file__).resolve().parent / "confine.py"
CREDENTIALS = Path("/run/credentials/rotator.service")

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd)",
)
needs_libseccomp = pytest.mark.skipif(
    ctypes.util.find_library("seccomp") is None or shutil.which("systemd-analyze") is None,
    reason="confine.py needs libseccomp and systemd-analyze (Debian: libseccomp2, systemd)",
)


def directives() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit; a repeated key keeps all its values in order."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def credential_ids() -> set[str]:
    return {entry.split(":")[0] for entry in directives()["LoadCredentialEncrypted"]}


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


def copy_with_existing_executable(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointed at this Python, as verify checks the file exists.

    /usr/local/bin/rotator is where the unit expects a `pip install`; a test
    machine has rotator in a virtualenv instead. Nothing else changes.
    """
    text = UNIT.read_text() if text is None else text
    unit = tmp_path / "rotator.service"
    unit.write_text(
        text.replace(
            "\nExecStart=/usr/local/bin/rotator run\n",
            f"\nExecStart={sys.executable} -m rotator run\n",
        )
    )
    assert unit.read_text() != text
    return unit


def confined(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CONFINE), str(UNIT), "--", *command],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=cwd,
        check=False,
    )


# -- what the unit says ----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", "60s"),
        ("ExecStart", "/usr/local/bin/rotator run"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("KillSignal", "SIGTERM"),
        ("TimeoutStopSec", "15"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "2"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "rotator"),
        ("StateDirectoryMode", "0700"),
        ("ConfigurationDirectory", "rotator"),
        ("Environment", "ROTATOR_CONFIG=/etc/rotator/rotator.toml"),
        ("UMask", "0077"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("SystemCallArchitectures", "native"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
    ],
)
def test_the_unit_sets_what_the_daemon_and_its_operators_rely_on(key, value):
    assert value in directives().get(key, []), f"{key}={value} is missing"


def test_the_system_call_filter_allows_a_service_but_nothing_privileged():
    assert directives()["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]


def test_systemd_waits_longer_than_the_ten_seconds_rotator_takes_to_stop():
    assert int(directives()["TimeoutStopSec"][0]) > 10


def test_the_master_key_credential_is_where_rotator_looks_for_it():
    settings = load_settings({"CREDENTIALS_DIRECTORY": str(CREDENTIALS)})
    assert settings.master_key_file.parent == CREDENTIALS
    assert settings.master_key_file.name in credential_ids()


def test_every_credential_the_example_config_reads_is_loaded_by_the_unit():
    example = (ROOT / "config" / "rotator.example.toml").read_text()
    wanted = set(re.findall(rf"{CREDENTIALS}/([\w-]+)", example))
    assert wanted
    assert wanted <= credential_ids()


def test_the_state_directory_systemd_creates_is_the_one_rotator_uses():
    settings = load_settings({"STATE_DIRECTORY": "/var/lib/rotator"})
    assert settings.state_dir == Path("/var/lib", directives()["StateDirectory"][0])


def test_the_unit_names_a_config_path_inside_its_configuration_directory():
    config = directives()["Environment"][0].split("=", 1)[1]
    assert Path(config).parent == Path("/etc", directives()["ConfigurationDirectory"][0])


# -- how systemd judges it -------------------------------------------------


@needs_systemd_analyze
def test_systemd_analyze_security_rates_the_unit_2_0_or_better():
    # --threshold counts tenths: 20 is an exposure of 2.0.
    result = analyze("security", "--offline=yes", "--threshold=20", str(UNIT))
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze predates --offline (systemd 250)")
    score = re.search(r"Overall exposure level for rotator\.service: (\d+\.\d+)", result.stdout)
    assert score is not None, result.stdout + result.stderr
    assert float(score.group(1)) <= 2.0
    assert result.returncode == 0


@needs_systemd_analyze
def test_systemd_analyze_verify_has_nothing_to_say_about_the_unit(tmp_path):
    result = analyze("verify", str(copy_with_existing_executable(tmp_path)))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@needs_systemd_analyze
def test_systemd_analyze_verify_would_catch_a_misspelt_directive(tmp_path):
    misspelt = UNIT.read_text().replace("\nProtectClock=yes\n", "\nProtectClok=yes\n")
    result = analyze("verify", str(copy_with_existing_executable(tmp_path, misspelt)))
    assert "Unknown key" in result.stderr


# -- rotator inside the unit's limits ---------------------------------------


@needs_libseccomp
def test_the_confinement_refuses_what_the_unit_forbids(tmp_path):
    probe = (
        "import mmap, os, socket\n"
        "def refused(action):\n"
        "    try:\n"
        "        action()\n"
        "    except OSError:\n"
        "        return True\n"
        "    return False\n"
        "wx = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC\n"
        "print(refused(lambda: mmap.mmap(-1, 4096, prot=wx)),\n"
        "      refused(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),\n"
        "      refused(lambda: os.setpriority(os.PRIO_PROCESS, 0, 5)),\n"
        "      refused(lambda: socket.socket().bind(('127.0.0.1', 0))))\n"
    )
    result = confined(sys.executable, "-c", probe, cwd=tmp_path)
    assert result.stdout.split() == ["True", "True", "True", "False"], result.stderr


@needs_libseccomp
@pytest.mark.slow
def test_the_whole_demo_runs_under_the_units_system_call_and_memory_limits(tmp_path):
    # The demo drives the CLI, the store, AES-GCM, HTTP clients and servers,
    # the sinks and (when installed) OpenBao: what `rotator run` uses.
    result = confined(sys.executable, "-m", "rotator", "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "every step behaved as expected" in result.stdout


TLS_HANDSHAKE = """
import datetime, ssl
from pathlib import Path
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import httpx  # its import-time work runs under the limits too

key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.UTC)
certificate = (
    x509.CertificateBuilder().subject_name(name).issuer_name(name)
    .public_key(key.public_key()).serial_number(1)
    .not_valid_before(now).not_valid_after(now + datetime.timedelta(hours=1))
    .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    .sign(key, hashes.SHA256())
)
Path("cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
Path("key.pem").write_bytes(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()))
server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_context.load_cert_chain("cert.pem", "key.pem")
client_context = ssl.create_default_context(cafile="cert.pem")
to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
server = server_context.wrap_bio(to_server, to_client, server_side=True)
client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
client = client_context.wrap_bio(client_in, client_out, server_hostname="localhost")
for _ in range(10):
    for end in (client, server):
        try:
            end.do_handshake()
        except ssl.SSLWantReadError:
            pass
    to_server.write(client_out.read())
    client_in.write(to_client.read())
client.write(b"ping")
to_server.write(client_out.read())
print(client.version(), server.read(4).decode())
"""


@needs_libseccomp
def test_a_tls_handshake_works_under_the_units_memory_limits(tmp_path):
    # OpenSSL and cryptography's Rust bindings need no writable+executable
    # memory (cffi's ffi.callback would, and nothing rotator uses calls it).
    result = confined(sys.executable, "-c", TLS_HANDSHAKE, cwd=tmp_path)
    assert result.stdout.split() == ["TLSv1.3", "ping"], result.stderr[-2000:]


def daemon_available() -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "rotator", "run", "--help"], capture_output=True, check=False
    )
    return result.returncode == 0


@needs_libseccomp
def test_the_daemon_starts_reports_ready_and_stops_cleanly_under_the_units_limits(tmp_path):
    if not daemon_available():
        pytest.skip("this rotator has no `run` command")
    port = free_port()
    config = tmp_path / "rotator.toml"
    config.write_text(f'[daemon]\nhealth_listen = "127.0.0.1:{port}"\n')
    # An abstract socket name: a path under tmp_path can pass the 108-byte limit.
    notify_name = f"rotator-unit-test-{os.getpid()}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ROTATOR_STATE_DIR": str(tmp_path / "state"),
        "ROTATOR_CONFIG": str(config),
    }
    subprocess.run([sys.executable, "-m", "rotator", "init"], env=env, check=True, timeout=60)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind("\0" + notify_name)
        notify.settimeout(30)
        daemon = subprocess.Popen(
            [sys.executable, str(CONFINE), str(UNIT), "--", sys.executable, "-m", "rotator", "run"],
            env={**env, "NOTIFY_SOCKET": "@" + notify_name},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # STATUS= lines may come first; READY=1 must come (recv times out otherwise).
            while "READY=1" not in notify.recv(4096).decode().splitlines():
                pass
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
                assert reply.status == 200
            daemon.send_signal(signal.SIGTERM)
            # The unit's TimeoutStopSec= is what systemd would wait.
            assert daemon.wait(timeout=int(directives()["TimeoutStopSec"][0])) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
            assert daemon.stderr is not None
            stderr = daemon.stderr.read()
            daemon.stderr.close()
    assert "Traceback" not in stderr, stderr
