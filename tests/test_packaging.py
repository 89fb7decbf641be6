"""The installed package, not the checkout: a wheel built from the project holds every module and the dataset
manifests, and finds the manifests without the checkout."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from titans_seq.data.files import load_manifest

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_holds_every_module_and_finds_the_dataset_manifests(tmp_path):
    source = tmp_path / "source"
    for folder in ("titans_seq", "datasets"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--quiet", "--disable-pip-version-check", "-w", str(tmp_path / "dist")], check=True)
    (wheel,) = (tmp_path / "dist").glob("titans_seq-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "titans_seq").rglob("*.py")}
    manifests = {f"titans_seq/datasets/{p.name}" for p in (ROOT / "datasets").glob("*.yaml")}
    assert modules - packed == set()
    assert manifests - packed == set()

    script = "import titans_seq.data.files as f; print(f.__file__, f.load_manifest('ETTh1').sha256)"
    shown = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": str(tmp_path / "site")}).stdout.split()
    assert shown == [str(tmp_path / "site" / "titans_seq" / "data" / "files.py"), load_manifest("ETTh1").sha256]
