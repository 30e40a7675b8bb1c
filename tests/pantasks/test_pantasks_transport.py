"""Local and SSH runners against real processes and a real sshd."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.config import SshConfig
from exporter.transport import CommandFailed, CommandTimedOut, HostKeyRejected, LocalRunner, SshRunner, remote_command

PY = sys.executable
HUGE = 5 * 1024 * 1024  # above the ~2 MiB SSH window that deadlocks naive readers (paramiko #1778)
HUGE_SCRIPT = (f"import sys\nb = b'x' * 65536\n"
               f"for _ in range({HUGE // 65536}):\n    sys.stdout.buffer.write(b); sys.stderr.buffer.write(b)\n")


def test_local_run_returns_both_streams_exit_code_cwd_and_env(tmp_path):
    result = LocalRunner().run(["sh", "-c", 'cat; pwd; echo "$IPP_X" >&2; exit 3'], stdin=b"in\n",
                               cwd=str(tmp_path), env={"IPP_X": "v a l"}, timeout=10)
    assert result.stdout == f"in\n{tmp_path}\n".encode() and result.stderr == b"v a l\n" and result.exit_code == 3


def test_local_merge_stderr_keeps_order():
    result = LocalRunner().run(["sh", "-c", "echo 1; echo 2 >&2; echo 3"], timeout=10, merge_stderr=True)
    assert result.stdout == b"1\n2\n3\n" and result.stderr == b""


def test_local_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(CommandTimedOut) as info:
        LocalRunner().run(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], timeout=0.5)
    assert time.monotonic() - start < 3.0
    assert "0.5s" in str(info.value)
    child = int(pidfile.read_text())
    for _ in range(50):  # the killed child may take a moment to be reaped by init
        if subprocess.run(["kill", "-0", str(child)], capture_output=True).returncode != 0:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the background child survived the timeout")


def test_local_huge_output_on_both_streams():
    result = LocalRunner().run([PY, "-c", HUGE_SCRIPT], timeout=60)
    assert len(result.stdout) == HUGE and len(result.stderr) == HUGE


def test_local_missing_program_is_command_failed(tmp_path):
    with pytest.raises(CommandFailed, match="cannot start"):
        LocalRunner().run([str(tmp_path / "nope")], timeout=5)
    with pytest.raises(CommandFailed, match="cannot start"):
        LocalRunner().run(["true"], cwd=str(tmp_path / "missing-dir"), timeout=5)


@pytest.mark.parametrize("evil", ["x; touch {m}", "$(touch {m})", "`touch {m}`", "a\ntouch {m}", "' ; touch {m} ; '"])
def test_remote_command_quotes_every_config_value(tmp_path, evil):
    marker = tmp_path / "pwned"
    value = evil.format(m=marker)
    directory = tmp_path / value.replace("/", "_")
    directory.mkdir()
    command = remote_command(["printf", "%s|", value], cwd=str(directory), env={"PTOLEMY": value}, merge_stderr=True)
    assert command.endswith(" 2>&1")
    result = subprocess.run(["sh", "-c", command], capture_output=True, timeout=10)
    assert result.stdout == f"{value}|".encode()
    assert not marker.exists()


def test_remote_command_rejects_bad_env_names():
    with pytest.raises(ValueError):
        remote_command(["x"], env={"A;B": "1"})


def test_remote_command_shape():
    assert remote_command(["pantasks_client"], cwd="/home/ipp/stdscience", env={"PTOLEMY": "/x/ptolemy.rc"},
                          merge_stderr=True) == \
        "cd /home/ipp/stdscience && exec env PTOLEMY=/x/ptolemy.rc pantasks_client 2>&1"
    assert shlex.split(remote_command(["a b"])) == ["exec", "a b"]


# --- SSH against the session's real sshd ---

def target(sshd, **changes) -> SshConfig:
    values = dict(user=sshd.user, known_hosts=sshd.known_hosts, port=sshd.port, key_file=sshd.key_file,
                  connect_timeout=5.0)
    values.update(changes)
    return SshConfig(**values)


@pytest.fixture
def ssh(sshd):
    runner = SshRunner(sshd.host, target(sshd))
    yield runner
    runner.close()


def test_ssh_runs_with_stdin_cwd_env_and_exit_code(ssh, tmp_path):
    result = ssh.run(["sh", "-c", 'cat; pwd; echo "$IPP_X" >&2; exit 4'], stdin=b"hello\n", cwd=str(tmp_path),
                     env={"IPP_X": "it's"}, timeout=10)
    assert result.stdout == f"hello\n{tmp_path}\n".encode() and result.stderr == b"it's\n" and result.exit_code == 4


def test_ssh_reuses_one_connection(ssh):
    for _ in range(3):
        assert ssh.run(["true"], timeout=10).exit_code == 0
    assert ssh.connects == 1


def test_ssh_passphrase_protected_key(sshd):
    runner = SshRunner(sshd.host, target(sshd, key_file=sshd.protected_key_file, key_passphrase=sshd.passphrase))
    try:
        assert runner.run(["echo", "ok"], timeout=10).stdout == b"ok\n"
    finally:
        runner.close()


@pytest.mark.parametrize("known", ["wrong_known_hosts", "empty_known_hosts"])
def test_ssh_refuses_unknown_or_changed_host_key(sshd, known):
    runner = SshRunner(sshd.host, target(sshd, known_hosts=getattr(sshd, known)))
    with pytest.raises(HostKeyRejected) as info:
        runner.run(["true"], timeout=10)
    assert sshd.host in str(info.value)
    assert runner.connects == 0


def test_ssh_timeout_is_honoured(ssh):
    start = time.monotonic()
    with pytest.raises(CommandTimedOut):
        ssh.run(["sleep", "60"], timeout=1.0)
    assert time.monotonic() - start < 2.5
    assert ssh.run(["echo", "after"], timeout=10).stdout == b"after\n"  # the connection is still usable


def _live_processes_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "cmdline").read_bytes().decode(errors="replace") and \
                    (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(proc.name))
        except (OSError, IndexError):
            continue
    return found


def test_ssh_timeout_also_ends_the_remote_command(ssh):
    marker = f"ipp-remote-hang-{os.getpid()}-{time.monotonic_ns()}"
    with pytest.raises(CommandTimedOut):
        ssh.run([PY, "-c", "import time; time.sleep(60)", marker], timeout=1.0)
    deadline = time.monotonic() + 8  # remote limit is timeout + 1 s, then SIGKILL 2 s later
    while _live_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _live_processes_with(marker) == []


def test_ssh_huge_output_on_both_streams(ssh):
    result = ssh.run([PY, "-c", HUGE_SCRIPT], timeout=60)
    assert len(result.stdout) == HUGE and len(result.stderr) == HUGE and result.exit_code == 0


def test_ssh_reconnects_after_the_server_drops_the_connection(ssh, sshd):
    assert ssh.run(["true"], timeout=10).exit_code == 0
    assert sshd.drop_connections() >= 1
    time.sleep(0.2)
    assert ssh.run(["echo", "back"], timeout=10).stdout == b"back\n"
    assert ssh.connects == 2


def test_ssh_reconnects_after_sshd_restart(ssh, sshd):
    assert ssh.run(["true"], timeout=10).exit_code == 0
    sshd.restart()
    assert ssh.run(["echo", "again"], timeout=10).stdout == b"again\n"
    assert ssh.connects == 2
