"""`steplane dev`'s state file holds an API key: its default folder keeps itself out of git."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from local_emulator.dev_state import DevState, read_state, write_state

STATE = DevState(os.getpid(), "http://127.0.0.1:1", "steplane-dev", "us-east-1", "http://x", "key")


def test_the_state_folder_is_ignored_by_git_and_the_key_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STEPLANE_DEV_STATE", raising=False)
    monkeypatch.chdir(tmp_path)
    path = write_state(STATE)
    assert path == tmp_path / ".steplane" / "dev.json"
    assert read_state() == STATE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    assert status.stdout == ""  # nothing under .steplane/ shows up to be committed


def test_an_explicit_state_path_leaves_its_folder_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPLANE_DEV_STATE", str(tmp_path / "dev.json"))
    write_state(STATE)
    assert not (tmp_path / ".gitignore").exists()
