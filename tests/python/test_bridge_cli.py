"""``rtstate bridge ...`` runs the ``rtstate-bridge`` binary with the rest of
the command line (the binary itself is tested by ``make zenoh-test``)."""

from __future__ import annotations

import os
import stat
import sys

from rtstate import _cli


def test_bridge_runs_the_binary_with_the_arguments(tmp_path, monkeypatch):
    log = tmp_path / "args.txt"
    fake = tmp_path / "fake-bridge"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"open({str(log)!r}, 'w').write('\\n'.join(sys.argv[1:]))\n"
        "sys.exit(3)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("RTSTATE_BRIDGE", str(fake))
    code = _cli.main(["bridge", "mirror", "rtstate/drone1/**", "--mode", "peer"])
    assert code == 3
    assert log.read_text().split("\n") == ["mirror", "rtstate/drone1/**", "--mode", "peer"]


def test_bridge_in_the_scripts_directory_is_found(tmp_path, monkeypatch):
    log = tmp_path / "args.txt"
    fake = tmp_path / "rtstate-bridge"
    fake.write_text(f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'w').write(' '.join(sys.argv[1:]))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("RTSTATE_BRIDGE", raising=False)
    monkeypatch.setenv("PATH", os.devnull)
    monkeypatch.setattr(_cli.sysconfig, "get_path", lambda name: str(tmp_path))
    assert _cli.main(["bridge", "--help"]) == 0
    assert log.read_text() == "--help"


def test_bridge_without_the_binary_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RTSTATE_BRIDGE", raising=False)
    monkeypatch.setenv("PATH", os.devnull)
    monkeypatch.setattr(_cli.sysconfig, "get_path", lambda name: str(tmp_path))
    assert _cli.main(["bridge", "export", "x", "--namespace", "d"]) == 127
    err = capsys.readouterr().err
    assert "pip install ./crates/rtstate-zenoh" in err
    assert "cargo install --path crates/rtstate-zenoh" in err


def test_python_dash_m_rtstate_bridge_runs_the_binary_like_the_console_script(tmp_path):
    import subprocess

    log = tmp_path / "args.txt"
    fake = tmp_path / "fake-bridge"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"open({str(log)!r}, 'w').write('\\n'.join(sys.argv[1:]))\n"
        "sys.exit(5)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, RTSTATE_BRIDGE=str(fake))
    args = ["bridge", "export", "pose", "--namespace", "drone1", "--no-multicast-scouting"]
    done = subprocess.run(
        [sys.executable, "-m", "rtstate", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 5, done.stderr
    assert log.read_text().split("\n") == args[1:]
    assert "unknown command" not in done.stderr


def test_python_dash_m_rtstate_help_names_the_bridge():
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "rtstate", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "bridge" in done.stdout
