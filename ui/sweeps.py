"""Streamlit glue of the Sweeps page and of the Playground's gradient noise: bounded caches of
the pure computations (sweeps, noisy runs, seed bands). No maths here."""

from __future__ import annotations

import numpy as np
import streamlit as st

from adamem_core import engine, sweep as sw
from adamem_core.expressions import ExpressionError, custom
from adamem_core.landscapes import LANDSCAPES
from adamem_core.scene import CUSTOM, NOISE_SEEDS
from adamem_core.specs import OptimizerSpec

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


@st.cache_data(max_entries=24, show_spinner=False, hash_funcs=_SPEC_HASH)
def _sweep(name: str, params: tuple, formula: str, rows: tuple, lrs: tuple, steps: int,
           tol: float, starts: tuple, noise: float, seeds: tuple):
    land = _landscape(name, params, formula)
    return sw.sweep(land, list(rows), list(lrs), steps=steps, tol=tol,
                    starts=np.array(starts, dtype=float), noise=noise, seeds=seeds)


def run_sweep(scene, land):
    """The sweep table of a :class:`~adamem_core.sweep_scene.SweepScene` (cached)."""
    starts = tuple(map(tuple, scene.starts(land).tolist()))
    return _sweep(scene.landscape, tuple(scene.params),
                  scene.formula if scene.landscape == CUSTOM else "", tuple(scene.rows()),
                  tuple(float(v) for v in scene.lrs()), scene.steps, scene.tol, starts,
                  scene.noise, scene.seeds())


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
