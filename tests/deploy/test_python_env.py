"""EMR Serverless runs the jobs with ``./environment/bin/python`` from the archive it unpacks.

A venv-pack'ed virtualenv (the recipe docs/deployment.md used to give) only links to the interpreter
of the machine that built it, which the EMR Serverless image does not have. The recipe now packs a
self-contained CPython prefix (deploy/emr-serverless/Dockerfile: built from source without a shared
libpython). Docker and the EMR image are out of reach here, so this builds both layouts from a local
CPython whose binary holds libpython, removes the build machine's interpreter, unpacks each archive
elsewhere and runs it: the checker names the broken one, and the self-contained one starts with its
own standard library. What only AWS shows (the image's system libraries) is not covered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lake.deploy.artifacts import BuiltWheel
from lake.deploy.emr import ENV_PYTHON, python_env_problems
from tests.deploy.conftest import pip_install_target

pytestmark = pytest.mark.slow

PROBE = "import json, os, ssl, sys; print(json.dumps([os.__file__, sys.prefix]))"


def _static_python() -> Path:
    """A local CPython 3.X whose binary holds libpython (as the Dockerfile builds it): ``ldd`` lists none."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.base_prefix) / "bin" / version, Path("/usr/bin") / version):
        if candidate.is_file():
            needs = subprocess.run(["ldd", str(candidate)], capture_output=True, text=True, check=True).stdout
            if "libpython" not in needs:
                return candidate
    pytest.fail(f"no {version} here whose binary holds libpython (Debian's /usr/bin/{version} does)")


def _prefix_install(python: Path, prefix: Path) -> Path:
    """``make install --prefix`` of that interpreter: bin/python3.X, bin/python -> python3.X, lib/python3.X."""
    stdlib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (prefix / "bin").mkdir(parents=True)
    shutil.copy2(python, prefix / "bin" / python.name)
    (prefix / "bin" / "python").symlink_to(python.name)
    ignore = shutil.ignore_patterns("__pycache__", "test", "site-packages", "dist-packages")
    shutil.copytree(stdlib, prefix / "lib" / Path(stdlib).name, ignore=ignore, symlinks=True)
    return prefix / "bin" / python.name


def _run(environment: Path) -> list[str]:
    """``./environment/bin/python`` in the folder EMR unpacked the archive into, as its executors run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [ENV_PYTHON, "-c", PROBE],
        cwd=environment.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return list(json.loads(result.stdout))


def _unpack(archive: Path, folder: Path) -> Path:
    environment = folder / "environment"
    environment.mkdir(parents=True)
    with tarfile.open(archive) as packed:
        packed.extractall(environment, filter="tar")
    return environment


def test_packed_python_runs_without_the_build_machine(built_wheel: BuiltWheel, tmp_path: Path) -> None:
    python = _static_python()
    site = f"lib/{python.name}/site-packages"

    # The old recipe: a virtualenv of the build machine's Python, packed with venv-pack.
    build_python = _prefix_install(python, tmp_path / "build-machine")
    venv = tmp_path / "venv"
    subprocess.run([str(build_python), "-m", "venv", "--without-pip", str(venv)], check=True)
    pip_install_target(str(built_wheel.path), venv / site)
    venv_pack = pip_install_target("venv-pack==0.2.0", tmp_path / "venv-pack")
    old = tmp_path / "venv-pack.tar.gz"
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import venv_pack; venv_pack.pack(prefix={str(venv)!r}, output={str(old)!r})",
        ],
        env={**os.environ, "PYTHONPATH": str(venv_pack)},
        check=True,
    )

    # The recipe: a self-contained prefix with lakeprep installed, packed as `tar -C prefix .`.
    prefix = tmp_path / "opt-python"
    _prefix_install(python, prefix)
    pip_install_target(str(built_wheel.path), prefix / site)
    new = tmp_path / "lakeprep-python.tar.gz"
    with tarfile.open(new, "w:gz") as packed:
        packed.add(prefix, arcname=".")

    shutil.rmtree(tmp_path / "build-machine")  # EMR Serverless never had the build machine's Python
    problems = python_env_problems(old)
    assert len(problems) == 2
    assert f"links to {build_python}, an interpreter of the machine that built the archive" in problems[0]
    assert "no standard library" in problems[1]  # a venv holds none: it borrows the interpreter's
    with pytest.raises(FileNotFoundError):
        _run(_unpack(old, tmp_path / "emr-old"))

    assert python_env_problems(new) == []
    environment = _unpack(new, tmp_path / "emr-new")
    stdlib_os, sys_prefix = _run(environment)
    assert Path(stdlib_os).is_relative_to(environment)
    assert Path(sys_prefix) == environment
    assert (environment / site / "lake" / "_bundle" / "jobs" / "featurize.py").is_file()


def test_checker_names_a_missing_stdlib_and_a_missing_lakeprep(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    (bare / "bin").mkdir(parents=True)
    (bare / "bin" / "python3.11").write_text("")
    (bare / "bin" / "python").symlink_to("python3.11")
    archive = tmp_path / "bare.tar.gz"
    with tarfile.open(archive, "w:gz") as packed:
        packed.add(bare, arcname=".")
    assert python_env_problems(archive) == [
        "bare.tar.gz: no standard library (lib/python3.X/os.py) beside the interpreter"
    ]
    (bare / "lib" / "python3.11").mkdir(parents=True)
    (bare / "lib" / "python3.11" / "os.py").write_text("")
    (bare / "bin" / "python").unlink()
    (bare / "bin" / "python").symlink_to("../../elsewhere/python3.11")
    with tarfile.open(archive, "w:gz") as packed:
        packed.add(bare, arcname=".")
    assert python_env_problems(archive) == [
        "bare.tar.gz: bin/python links outside the archive (../../elsewhere/python3.11)",
        "bare.tar.gz: lakeprep is not installed in it (no site-packages/lake/_bundle/jobs)",
    ]
