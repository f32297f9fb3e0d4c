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


def test_bridge_without_the_binary_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.delenv("RTSTATE_BRIDGE", raising=False)
    monkeypatch.setenv("PATH", os.devnull)
    assert _cli.main(["bridge", "export", "x", "--namespace", "d"]) == 127
    assert "cargo install --path crates/rtstate-zenoh" in capsys.readouterr().err
