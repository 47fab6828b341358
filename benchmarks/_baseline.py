"""The project as it stood when issues 11 and 12 were filed, measured in the same run as today's.

Issue 12 states some of its targets in seconds on the machine it was written on: the engine's
8 × 1,000 Rosenbrock run "≤ 50 ms (52.7 ms today)", the Playground's 8 × 500 redraw "≤ 1 s
(1.67 s today)", the MLP lab's 6 × 500 run "≤ 1.0 s" where it "took 3.0–3.2 s". This machine
runs at another speed, and it is shared, so its seconds move from hour to hour. The figure that both
machines can judge is the ratio to the code the issue measured: a target of T seconds where the
issue measured B seconds for the code as filed becomes

    today / as filed ≤ T / B,      both measured here, in the same run.

:func:`export` writes the tree of :data:`ISSUE_REV` (``git archive``) to a cached temporary
folder; :func:`import_package` imports its ``adamem_core`` under another name, so that both
versions run in one process, alternately. Where git or the commit is missing (a shallow clone,
an exported tarball) they say why and the benchmarks print their absolute figures only.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ISSUE_REV = "fb9b600"     # main when issues 11 and 12 were filed (the app's first version)


def export(rev: str = ISSUE_REV) -> tuple[Path | None, str]:
    """(folder holding the tree of ``rev``, its full commit id), or (None, why not)."""
    try:
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet",
                              f"{rev}^{{commit}}"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"git is not available ({exc})"
    if not sha:
        return None, f"commit {rev} is not in this clone (a shallow clone? `git fetch --unshallow`)"
    root = Path(tempfile.gettempdir()) / f"adamem-baseline-{sha[:12]}"
    if not root.exists():
        tar = subprocess.run(["git", "-C", str(REPO), "archive", sha], capture_output=True,
                             timeout=120)
        if tar.returncode != 0:
            return None, f"git archive {rev} failed: {tar.stderr.decode(errors='replace')[:200]}"
        with _building(root) as tmp, tarfile.open(fileobj=io.BytesIO(tar.stdout)) as tf:
            tf.extractall(tmp, filter="data")
    return root, sha


@contextlib.contextmanager
def _building(dest: Path):
    """A fresh folder next to ``dest``, renamed to ``dest`` when the block succeeds (another
    process that got there first wins; a failed block leaves nothing)."""
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        yield tmp
        try:
            tmp.rename(dest)
        except OSError:             # already there (built by another process meanwhile)
            if not dest.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def import_package(root: Path, alias: str = "adamem_filed"):
    """``root``'s ``adamem_core`` imported as ``alias`` (its own imports renamed to match), next
    to today's ``adamem_core`` in the same process."""
    pkgs = root.parent / f"{root.name}-{alias}"
    if not pkgs.exists():
        with _building(pkgs) as tmp:
            shutil.copytree(root / "adamem_core", tmp / alias)
            for f in (tmp / alias).rglob("*.py"):
                f.write_text(f.read_text().replace("adamem_core", alias))
    if str(pkgs) not in sys.path:
        sys.path.insert(0, str(pkgs))
    return importlib.import_module(alias)


def verdict(ratio: float, target: float, issue: float, unit: str = "s") -> str:
    """One printed line: today / as filed against target / what the issue measured (both in
    ``unit``)."""
    limit = target / issue
    return (f"today / as filed {ratio:.3f}×; the issue's target ≤ {target:g} {unit} where it "
            f"measured {issue:g} {unit} as filed: ≤ {limit:.3f}×  "
            f"{'PASS' if ratio <= limit else 'MISS'}")
