"""`python app.py` refuses to start, with one line per problem, where it could not keep what its users make."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_an_unwritable_runs_folder_stops_the_start(tmp_path):
    (tmp_path / "a-file").write_text("x")
    env = {**os.environ, "HOME": str(tmp_path), "STUDIO_RUNS_DIR": str(tmp_path / "a-file" / "runs"),
           "STUDIO_SPOTCHECK_DB": str(tmp_path / "votes.db"), "STUDIO_PORT": "7999"}
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: STUDIO_RUNS_DIR: cannot write in")
