"""Sessions: tests on every supported Python, lint, typing, docs; bench on demand (`nox -l`)."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typing", "docs"]
nox.options.reuse_existing_virtualenvs = True

#: pyenv keeps the other interpreters; this makes python3.12 and python3.13 resolvable.
os.environ.setdefault("PYENV_VERSION", "3.11.7:3.12.1:3.13.0")

PYTHONS = ["3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite, doctests included."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """Type-check the package, tests and benchmarks with mypy --strict; verify exported types."""
    session.install("-e", ".[test,lint,bench]")
    session.run("mypy")
    session.run("basedpyright", "--verifytypes", "parmap", "--ignoreexternal")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site, failing on any warning."""
    session.install("-e", ".[docs]")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run parmap side by side with its peers (benchmarks/bench_peers.py); not in the default run.

    Takes about 15 minutes on 2 cores and rewrites benchmarks/results/peers.*;
    pass options after ``--``, e.g. ``nox -s bench -- --quick``.
    """
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/bench_peers.py", *session.posargs)
