"""docs/SKILL.md teaches coding agents steplane by example: every command its bash blocks show
runs here, in order, in one shell, from an empty directory, and must succeed, so the skill
cannot go stale."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKILL = ROOT / "docs" / "SKILL.md"


def blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def test_the_skill_has_the_frontmatter_coding_agents_load() -> None:
    text = SKILL.read_text()
    match = re.match(r"---\nname: ([\w-]+)\ndescription: (.+?)\n---\n", text)
    assert match, "SKILL.md must start with name and description frontmatter"
    assert match.group(1) == "steplane" and len(match.group(2)) > 80
    assert len(blocks(text)) >= 5


@pytest.mark.slow
def test_every_command_the_skill_shows_works(tmp_path: Path) -> None:
    script = "set -euo pipefail\n" + "\n".join(blocks(SKILL.read_text()))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": "",
    }
    for name in ("STEPLANE_WORLD", "AWS_ENDPOINT_URL", "STEPLANE_DEV_STATE", "AWS_PROFILE"):
        env.pop(name, None)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    dev_log = (tmp_path / "dev.log").read_text() if (tmp_path / "dev.log").exists() else ""
    assert done.returncode == 0, f"{done.stderr[-3000:]}\n--- dev.log:\n{dev_log[-2000:]}"
    out = done.stdout
    assert '"text": "Hello, Ada!"' in out and '"receipt": "sent: Hello, Grace!"' in out
    assert "'hook_created'" in out  # the events of the waiting run
    assert '"status": "sent"' in out  # its decrypted result, after the hook was resumed
    assert "FunctionName" in out  # the deploy's outputs
