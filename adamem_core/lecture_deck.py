"""The lecture deck: the prepared lecture scenes (``scene.LECTURE_SCENES``, the same list the
Playground's ◀ / ▶ step through, so a new scene appears in both) run on the engine and drawn as
the Playground draws them in lecture mode, then written by :func:`figures.deck.deck_html` as one
standalone HTML file. No Streamlit."""

from __future__ import annotations

from typing import Sequence

from . import figures
from .engine import contour_grid, simulate
from .figures.deck import Slide, deck_html
from .landscapes import LANDSCAPES
from .scene import LECTURE_SCENES, parse_query


def lecture_slides(scenes: Sequence[tuple[str, str, dict[str, str]]] = LECTURE_SCENES
                   ) -> list[Slide]:
    slides = []
    for i, (title, caption, query) in enumerate(scenes):
        sc, notes = parse_query(dict(query), LANDSCAPES)
        if notes:
            raise ValueError(f"lecture scene {i + 1} ({title}) is not valid: {notes}")
        land = LANDSCAPES[sc.landscape]
        if sc.params:
            land = land.with_params(**dict(sc.params))
        trajs = simulate(land, sc.specs(), (sc.x0, sc.y0), sc.steps)
        grid = contour_grid(land, 160)
        main = figures.trajectory_figure(grid, trajs, land.title, land.minima, (sc.x0, sc.y0),
                                         t=sc.steps, animate=False, lecture=True)
        side = [figures.gap_figure(trajs, land.f_star, t=sc.steps, lecture=True),
                figures.beta_figure(trajs, t=sc.steps, lecture=True)]
        note = (f"{land.title}, start ({sc.x0:g}, {sc.y0:g}); η = {sc.lr:g}, {sc.steps} steps; "
                f"AM: λ = {sc.lam:g}, β_max = {sc.beta_max:g}, {sc.gap} gap")
        slides.append(Slide(f"{i + 1}. {title}", caption, main, side, note))
    return slides


def lecture_deck_html(scenes: Sequence[tuple[str, str, dict[str, str]]] = LECTURE_SCENES) -> str:
    return deck_html(lecture_slides(scenes))
