"""Where the job scripts, contracts and Spark defaults are: a checkout, or the copies inside the wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLE = _PACKAGE / "_bundle"  # filled by the wheel build (see pyproject force-include)
_CHECKOUT = _PACKAGE.parent


def _first_existing(name: str) -> Path:
    for base in (_CHECKOUT, _BUNDLE):
        candidate = base / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{name} not found in {_CHECKOUT} or in the installed package")


def jobs_dir() -> Path:
    return _first_existing("jobs")


def available_jobs() -> list[str]:
    """Job scripts of this checkout or installed package (``jobs/<name>.py``)."""
    return sorted(p.stem for p in jobs_dir().glob("*.py") if not p.name.startswith("_"))


def job_script(job: str) -> Path:
    script = jobs_dir() / f"{job}.py"
    if not script.is_file():
        raise FileNotFoundError(f"no job {job!r}; jobs are {available_jobs()}")
    return script


def contracts_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--contracts``, then $LAKEPREP_CONTRACTS, then the checkout's or the wheel's ``schemas/``."""
    chosen = explicit or os.environ.get("LAKEPREP_CONTRACTS")
    if chosen:
        return Path(chosen)
    return _first_existing("schemas")


def spark_defaults() -> Path:
    return _first_existing("spark-defaults.conf")


def bundle_file(name: str) -> Path | None:
    """A file the wheel build put into ``lake/_bundle/`` (None when running from a checkout)."""
    candidate = _BUNDLE / name
    return candidate if candidate.is_file() else None


def checkout_root() -> Path | None:
    """The repository root when running from a checkout (used for git sha and the default lake)."""
    return _CHECKOUT if (_CHECKOUT / "pyproject.toml").exists() else None
