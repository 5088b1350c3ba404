"""scripts/lib.sh installs a requirements file again whenever its content changes, whatever the file's mtime."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_python_env_installs_once_and_again_after_the_file_changes(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    (checkout / "requirements").mkdir()
    shutil.copy(ROOT / "scripts" / "lib.sh", checkout / "scripts" / "lib.sh")
    requirements = checkout / "requirements" / "app.txt"
    requirements.write_text("pip\n")  # satisfied by every new virtualenv: no download
    env = {**os.environ, "ORION_VENV": str(tmp_path / "venv")}

    def python_env() -> str:
        return subprocess.run(
            ["bash", "-c", 'source "$1" && python_env requirements/app.txt', "-", str(checkout / "scripts" / "lib.sh")],
            env=env, capture_output=True, text=True, check=True, timeout=300,
        ).stderr  # fmt: skip

    first = python_env()
    assert "creating virtualenv" in first and "installing requirements/app.txt" in first
    assert "installing" not in python_env()

    # A pull or a branch switch can leave the file older than the stamp: the content decides.
    stamp = tmp_path / "venv" / ".installed-app"
    requirements.write_text("# a comment is a change too\npip\n")
    os.utime(requirements, (stamp.stat().st_atime - 3600, stamp.stat().st_mtime - 3600))
    assert "installing requirements/app.txt" in python_env()
    assert "installing" not in python_env()
