"""The README's code works as written: its Python blocks run in order, its shell commands succeed."""

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```(python|bash)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_python_blocks_run_in_order(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    python = [code for language, code in BLOCKS if language == "python"]
    assert len(python) >= 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, code in enumerate(python):
            exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)
    assert namespace["forecaster"].predict().shape == (24, 1)


def test_shell_commands_succeed(shared_data, tmp_path):
    commands = [line.split("#")[0].strip() for language, code in BLOCKS if language == "bash"
                for line in code.splitlines()]
    # `make demo` and `make test` are the quickstart itself: CI runs the latter, test_demo the former.
    commands = [c for c in commands if c and not c.startswith("make ")]
    assert any(c.startswith("titans-seq fit") for c in commands)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        done = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
    # The CLI wrote its logs beside the repository's other ignored outputs.
    assert (ROOT / "lightning_logs").is_dir()
