"""Streamlit glue of the Sweeps page and of the Playground's gradient noise: bounded caches of
the pure computations (sweeps, noisy runs, seed bands). No maths here."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import streamlit as st

from adamem_core import engine, sweep as sw
from adamem_core.expressions import ExpressionError, custom
from adamem_core.landscapes import LANDSCAPES
from adamem_core.scene import CUSTOM, NOISE_SEEDS
from adamem_core.specs import OptimizerSpec
from ui.admission import admitted

_SPEC_HASH = {OptimizerSpec: repr}


@st.cache_resource(max_entries=32, show_spinner=False)
def _landscape(name: str, params: tuple, formula: str):
    if name == CUSTOM:
        return custom(formula)
    land = LANDSCAPES[name]
    return land.with_params(**dict(params)) if params else land


def landscape_of(scene):
    """(landscape, None) or (None, the parser's message) for a scene with ``landscape``,
    ``params`` and ``formula`` (the Sweeps page's or the Playground's)."""
    try:
        return _landscape(scene.landscape, tuple(scene.params),
                          scene.formula if scene.landscape == CUSTOM else ""), None
    except ExpressionError as e:
        return None, str(e)
    except ValueError as e:
        return None, str(e)


_SWEEP_CACHE = 24


@st.cache_data(max_entries=_SWEEP_CACHE, show_spinner=False, hash_funcs=_SPEC_HASH)
def _sweep(name: str, params: tuple, formula: str, rows: tuple, lrs: tuple, steps: int,
           tol: float, starts: tuple, noise: float, seeds: tuple):
    land = _landscape(name, params, formula)
    return sw.sweep(land, list(rows), list(lrs), steps=steps, tol=tol,
                    starts=np.array(starts, dtype=float), noise=noise, seeds=seeds)


@st.cache_resource(max_entries=1, show_spinner=False)
def _computed() -> OrderedDict:
    """The keys of the sweeps this server computed lately (bounded like ``_sweep``'s cache), so
    that opening a sweep that is already cached never waits for a training slot."""
    return OrderedDict()


def run_sweep(scene, land):
    """The sweep table of a :class:`~adamem_core.sweep_scene.SweepScene` (cached). A sweep that
    has to be computed takes one of the server's training slots (``ui.admission``: at most N
    trainings or sweeps at once, the others wait with their place in the queue); one that is
    already cached is served at once."""
    starts = tuple(map(tuple, scene.starts(land).tolist()))
    args = (scene.landscape, tuple(scene.params),
            scene.formula if scene.landscape == CUSTOM else "", tuple(scene.rows()),
            tuple(float(v) for v in scene.lrs()), scene.steps, scene.tol, starts,
            scene.noise, scene.seeds())
    key, done = repr(args), _computed()
    if key in done:
        done.move_to_end(key)
        return _sweep(*args)
    with admitted("sweep", key="s_adm"):
        table = _sweep(*args)
    done[key] = True
    while len(done) > _SWEEP_CACHE:
        done.popitem(last=False)
    return table


@st.cache_data(max_entries=24, show_spinner=False, hash_funcs=_SPEC_HASH)
def _noisy(name: str, params: tuple, formula: str, start: tuple, specs: tuple, steps: int,
           noise: float, seed: int):
    land = _landscape(name, params, formula)
    return engine.simulate(land, list(specs), start, steps, noise=noise, seed=seed)


@st.cache_data(max_entries=24, show_spinner=False, hash_funcs=_SPEC_HASH)
def _bands(name: str, params: tuple, formula: str, start: tuple, specs: tuple, steps: int,
           noise: float):
    land = _landscape(name, params, formula)
    return sw.seed_bands(land, list(specs), start, steps, noise, range(NOISE_SEEDS))


def _key(scene) -> tuple:
    return (scene.landscape, tuple(scene.params),
            scene.formula if scene.landscape == CUSTOM else "", (scene.x0, scene.y0),
            tuple(scene.specs()), scene.steps)


def noisy_runs(scene):
    """The Playground's runs with gradient noise σ = ``scene.noise`` and its seed (cached)."""
    return _noisy(*_key(scene), scene.noise, scene.seed)


def noise_bands(scene):
    """Median and 10–90 % band of f − f* over NOISE_SEEDS seeds for the Playground (cached)."""
    return _bands(*_key(scene), scene.noise)


class NoisyCharts:
    """The Playground's charts for a scene with gradient noise σ > 0, built for this session
    (the shared, frozen figures of :mod:`ui.shared_figures` are the noise-free scene's): the
    runs with the scene's noise seed, the gap chart with every run's median and 10–90 % band
    over NOISE_SEEDS seeds. Same methods as ``ui.shared_figures``."""

    def __init__(self, scene):
        self.scene = scene
        self.land, _ = landscape_of(scene)
        self.runs = noisy_runs(scene)

    def summary(self):
        from adamem_core import figures
        rows = engine.summarize(self.runs, self.land, self.scene.tol)
        return rows, figures.summary_table(rows, self.scene.tol)

    def trajectory_chart(self, scene, t: int):
        from adamem_core import figures
        from ui.common import scene_grid
        sc, land = self.scene, self.land
        return figures.trajectory_figure(scene_grid(sc), self.runs, land.title, land.minima,
                                         (sc.x0, sc.y0), t=t, animate=not sc.surface3d,
                                         surface3d=sc.surface3d, lecture=sc.lecture,
                                         max_frames=60, frame_bytes=100_000,
                                         pick_grid=0 if sc.surface3d else 25)

    def gap_chart(self, scene, t: int):
        from adamem_core import figures
        from adamem_core.figures.sweep import add_seed_bands
        fig = figures.gap_figure(self.runs, self.land.f_star, t=t, lecture=self.scene.lecture)
        return add_seed_bands(fig, self.scene.specs(), noise_bands(self.scene),
                              self.scene.lecture)

    def beta_chart(self, scene, t: int):
        from adamem_core import figures
        return figures.beta_figure(self.runs, t=t, show_model_beta=self.scene.model_beta,
                                   lecture=self.scene.lecture)


def noisy_charts(scene) -> NoisyCharts:
    return NoisyCharts(scene)
