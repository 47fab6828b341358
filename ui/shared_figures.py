"""What every session showing the same scene shares: its figures and its summary, built once.

A lecture hall opens one link: forty sessions ask for the same scene within seconds. The
simulation and the contour grid were already cached (``ui.common``); the figures were not, and
building and serialising them cost ≈ 1 s of server CPU per page view. Here each Playground chart
is built once per (scene, step t, theme), frozen into its serialised form
(:func:`adamem_core.figures.frozen.freeze`) and handed to every session that shows it; a page
view then costs a few milliseconds of JSON dumping per chart. The figures are built
``frozen=True``: as plain dicts, straight into their serialised form, without plotly.py's
validating object model (the same JSON, see ``adamem_core.figures.spec``): a new scene (e.g. a
learning-rate change) costs a fraction of the server time it did.

``st.cache_resource`` (not ``cache_data``): the frozen figures are read-only and shared as they
are (``cache_data`` would pickle and copy a megabyte per view). Bounded: at most
``FIGURE_ENTRIES`` scenes per chart, each kept ``FIGURE_TTL_S`` seconds after it was built, so
the server's memory comes back once a lecture is over.

Keys: ``repr`` of the scene (a frozen dataclass: every field, floats exact) with the fields a
chart does not draw set to their defaults, so e.g. the table's tolerance does not rebuild the
trajectory chart. Builders call the figure functions through the module
(``figures.trajectory_figure``), so a test can count the builds by patching them.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from adamem_core import figures
from adamem_core.engine import summarize
from adamem_core.figures.frozen import FrozenFigure, freeze
from adamem_core.scene import CUSTOM, Scene

from .common import scene_grid, scene_landscape, scene_runs

FIGURE_ENTRIES = 48        # scenes per chart kept at once (the simulation cache keeps 48 too)
FIGURE_TTL_S = 30 * 60     # a lecture's scenes come back within it; memory is freed after
_DEFAULT = Scene()


def _key(scene: Scene, **neutral: Any) -> str:
    """The exact scene as text, with the fields in ``neutral`` reset (they don't matter here)."""
    return repr(scene.replace(**{k: getattr(_DEFAULT, k) for k in neutral}))


# The scene itself travels as ``_scene`` (underscore: not hashed); ``key`` identifies it.
@st.cache_resource(max_entries=FIGURE_ENTRIES, ttl=FIGURE_TTL_S, show_spinner=False)
def _raster(key: str, _scene: Scene) -> dict | None:
    """The contour's PNG raster of a landscape (the same for every run on it: a learning-rate
    change does not redraw it). Shared read-only: the figure copies it."""
    return figures.contour_raster(scene_grid(_scene))


def _landscape_key(scene: Scene) -> str:
    return repr((scene.landscape, scene.params,
                 scene.formula if scene.landscape == CUSTOM else ""))


@st.cache_resource(max_entries=FIGURE_ENTRIES, ttl=FIGURE_TTL_S, show_spinner=False)
def _trajectory(key: str, t: int, pick_grid: int, max_frames: int, frame_bytes: int,
                _scene: Scene) -> FrozenFigure:
    sc = _scene
    land = scene_landscape(sc)
    fig = figures.trajectory_figure(scene_grid(sc), scene_runs(sc), land.title, land.minima,
                                    (sc.x0, sc.y0), t=t, animate=not sc.surface3d,
                                    surface3d=sc.surface3d, lecture=sc.lecture,
                                    max_frames=max_frames, frame_bytes=frame_bytes,
                                    pick_grid=0 if sc.surface3d else pick_grid, frozen=True,
                                    raster=None if sc.surface3d else _raster(_landscape_key(sc),
                                                                              sc))
    return freeze(fig)


@st.cache_resource(max_entries=FIGURE_ENTRIES, ttl=FIGURE_TTL_S, show_spinner=False)
def _gap(key: str, t: int, _scene: Scene) -> FrozenFigure:
    sc = _scene
    return freeze(figures.gap_figure(scene_runs(sc), scene_landscape(sc).f_star, t=t,
                                     lecture=sc.lecture, frozen=True))


@st.cache_resource(max_entries=FIGURE_ENTRIES, ttl=FIGURE_TTL_S, show_spinner=False)
def _beta(key: str, t: int, _scene: Scene) -> FrozenFigure:
    sc = _scene
    return freeze(figures.beta_figure(scene_runs(sc), t=t, show_model_beta=sc.model_beta,
                                      lecture=sc.lecture, frozen=True))


@st.cache_resource(max_entries=FIGURE_ENTRIES, ttl=FIGURE_TTL_S, show_spinner=False)
def _summary(key: str, _scene: Scene) -> tuple[list[dict], Any]:
    sc = _scene
    rows = summarize(scene_runs(sc), scene_landscape(sc), sc.tol)
    return rows, figures.summary_table(rows, sc.tol)


def trajectory_chart(scene: Scene, t: int, pick_grid: int = 25, max_frames: int = 50,
                     frame_bytes: int = 100_000) -> FrozenFigure:
    """The Playground's trajectory chart of ``scene`` at step ``t`` (shared, read-only).

    At most 50 animation frames (every 4th step of the default 150; the step-t slider still
    shows any step) and the paths cut into blocks once the frames would pass 100 kB: what a
    widget change of the default scene sends stays under 250 kB at any learning rate."""
    key = _key(scene, t=0, tol=0, model_beta=0)
    return _trajectory(key, int(t), pick_grid, max_frames, frame_bytes, scene)


def gap_chart(scene: Scene, t: int) -> FrozenFigure:
    return _gap(_key(scene, t=0, tol=0, model_beta=0, surface3d=0), int(t), scene)


def beta_chart(scene: Scene, t: int) -> FrozenFigure:
    return _beta(_key(scene, t=0, tol=0, surface3d=0), int(t), scene)


def summary(scene: Scene) -> tuple[list[dict], Any]:
    """``engine.summarize`` rows and the display table (shared: don't modify them)."""
    return _summary(_key(scene, t=0, surface3d=0, model_beta=0, lecture=0), scene)


def clear() -> None:
    """Forget every shared figure (tests)."""
    for f in (_trajectory, _gap, _beta, _summary, _raster):
        f.clear()
