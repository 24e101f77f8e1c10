"""The deployed wheel carries everything its jobs import. Installed with its declared dependencies into
a clean virtualenv beside a cluster-provided pyspark (on the path without its extras, as EMR and EMR
Serverless provide it), every job script of the wheel's bundle and every ``lake`` module imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import py4j
import pyspark
import pytest

from lake.deploy.artifacts import BuiltWheel
from lake.job_scripts import available_jobs

pytestmark = pytest.mark.slow

IMPORT_EVERYTHING = """
import importlib, importlib.util, json, pkgutil
import lake
from lake import paths

jobs = {}
for script in sorted(paths.jobs_dir().glob("*.py")):
    spec = importlib.util.spec_from_file_location(f"lakeprep_job_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    jobs[script.stem] = str(script)
modules = [m.name for m in pkgutil.walk_packages(lake.__path__, "lake.")]
for name in modules:
    importlib.import_module(name)
print(json.dumps({"jobs": jobs, "modules": modules}))
"""


def _cluster_pyspark(folder: Path) -> Path:
    """pyspark and py4j alone in a folder, like a cluster's SPARK_HOME/python on PYTHONPATH."""
    folder.mkdir()
    for package in (pyspark, py4j):
        source = Path(package.__file__).parent  # type: ignore[arg-type]
        (folder / source.name).symlink_to(source, target_is_directory=True)
    return folder


def test_clean_install_imports_every_job(built_wheel: BuiltWheel, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(built_wheel.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "cluster-pyspark.pth").write_text(f"{_cluster_pyspark(tmp_path / 'spark-python')}\n")

    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "LAKEPREP_CONTRACTS"}}
    result = subprocess.run(
        [python, "-c", IMPORT_EVERYTHING],
        cwd=tmp_path,
        env={**env, "PYTHONNOUSERSITE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert set(found["jobs"]) == set(available_jobs())
    bundle = Path(site) / "lake" / "_bundle" / "jobs"
    assert all(Path(script).parent == bundle for script in found["jobs"].values())
    assert "lake.features.pipeline" in found["modules"]
