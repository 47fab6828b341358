"""Shared Streamlit helpers: cached computations, the scene ↔ widgets ↔ URL round trip,
lecture mode, notices and the torch device."""

from __future__ import annotations

from html import escape
from typing import Any, Callable, NoReturn
from urllib.parse import urlencode

import streamlit as st
import torch

from adamem_core import engine
from adamem_core.expressions import ExpressionError, custom
from adamem_core.landscapes import LANDSCAPE_NAMES, LANDSCAPES
from adamem_core.scene import CUSTOM, MAX_FORMULA, Scene, parse_query
from adamem_core.specs import OptimizerSpec

LECTURE_KEY = "lecture_mode"


# ----------------------------------------------------------------------------- device
def torch_device() -> str:
    """The device torch would use here (chosen at run time)."""
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


# ----------------------------------------------------------------------------- cached maths
@st.cache_resource(max_entries=64, show_spinner=False)
def landscape_for(name: str, params: tuple[tuple[str, float], ...], formula: str):
    """The landscape of a scene (a custom formula is parsed here; ExpressionError propagates and
    is not cached)."""
    if name == CUSTOM:
        return custom(formula)
    land = LANDSCAPES[name]
    return land.with_params(**dict(params)) if params else land


def scene_landscape(scene: Scene):
    return landscape_for(scene.landscape, scene.params,
                         scene.formula if scene.landscape == CUSTOM else "")


@st.cache_data(max_entries=48, show_spinner=False, hash_funcs={OptimizerSpec: repr})
def run_scene(name: str, params: tuple, formula: str, start: tuple[float, float],
              specs: tuple, steps: int) -> list[engine.Trajectory]:
    land = landscape_for(name, params, formula)
    return engine.simulate(land, list(specs), start, steps)


def scene_runs(scene: Scene) -> list[engine.Trajectory]:
    return run_scene(scene.landscape, scene.params,
                     scene.formula if scene.landscape == CUSTOM else "",
                     (scene.x0, scene.y0), tuple(scene.specs()), scene.steps)


@st.cache_data(max_entries=48, show_spinner=False)
def grid_for(name: str, params: tuple, formula: str, n: int = 160) -> dict[str, Any]:
    return engine.contour_grid(landscape_for(name, params, formula), n)


def scene_grid(scene: Scene, n: int = 160) -> dict[str, Any]:
    return grid_for(scene.landscape, scene.params,
                    scene.formula if scene.landscape == CUSTOM else "", n)


def try_landscape(scene: Scene):
    """(landscape, None) or (None, the parser's message)."""
    try:
        return scene_landscape(scene), None
    except ExpressionError as e:
        return None, str(e)
    except ValueError as e:       # a parameter the family refuses
        return None, str(e)


# ----------------------------------------------------------------------------- scene state
SCENE_KEY = "scene"
NOTICE_KEY = "scene_notices"


def current_scene() -> Scene:
    """The scene of this session: from the URL on the first visit (validated, with notices),
    afterwards whatever the playground's widgets last produced."""
    if SCENE_KEY not in st.session_state:
        scene, notices = parse_query(dict(st.query_params.to_dict()), LANDSCAPES)
        st.session_state[SCENE_KEY] = scene
        st.session_state[NOTICE_KEY] = notices
        st.session_state[LECTURE_KEY] = scene.lecture
    return st.session_state[SCENE_KEY]


def set_scene(scene: Scene) -> None:
    st.session_state[SCENE_KEY] = scene
    q = scene.to_query()
    if dict(st.query_params.to_dict()) != q:
        st.query_params.from_dict(q)


def show_notices(extra: list[str] | None = None) -> None:
    notes = list(st.session_state.get(NOTICE_KEY, [])) + list(extra or [])
    if notes:
        st.warning("**Some values were corrected:**\n\n" + "\n".join(f"- {n}" for n in notes),
                   icon="⚠️")


def landscape_label(name: str) -> str:
    if name == CUSTOM:
        return "Custom formula f(x, y)"
    return LANDSCAPES[name].title


LANDSCAPE_OPTIONS = list(LANDSCAPE_NAMES) + [CUSTOM]
FORMULA_HELP = ("Numbers, x, y, + − * / ** (or ^), parentheses and the functions sin, cos, "
                "tan, exp, log, sqrt, abs, tanh, …")


def function_controls(prefix: str, on_change: Callable[[], None],
                      formula_error: Callable[[str], str | None]) -> tuple[Any, Any, str | None]:
    """The sidebar's function controls of the Playground and the Sweeps page (call inside
    ``st.sidebar``): the function's select box (``{prefix}_land``), for a custom function the
    formula box (``{prefix}_formula``) with its error under it, and the landscape's parameters
    (``{prefix}_p_<name>``). ``formula_error(formula)`` is the page's check of a formula (its
    message, or None). Returns (the landscape or None for a custom one, the domain the start
    boxes use, the formula's error or None)."""
    ss = st.session_state
    st.selectbox("Function", LANDSCAPE_OPTIONS, key=f"{prefix}_land",
                 format_func=landscape_label, on_change=on_change)
    err = None
    if ss[f"{prefix}_land"] == CUSTOM:
        st.text_input("f(x, y) =", key=f"{prefix}_formula", max_chars=MAX_FORMULA,
                      help=FORMULA_HELP)
        err = formula_error(ss[f"{prefix}_formula"])
        if err:
            st.error(err, icon="✏️")
    land = LANDSCAPES.get(ss[f"{prefix}_land"])
    if land is not None:
        for k, spec in land.param_specs.items():
            st.number_input(spec.label or k, min_value=float(spec.min),
                            max_value=float(spec.max), key=f"{prefix}_p_{k}",
                            step=(10.0 if spec.log else 5.0), format="%g")
    dom = land.domain if land is not None else ((-3.0, 3.0), (-3.0, 3.0))
    return land, dom, err


# ----------------------------------------------------------------------------- lecture mode
def lecture_on() -> bool:
    return bool(st.session_state.get(LECTURE_KEY, False))


def apply_lecture_css() -> None:
    """Bigger type everywhere; in lecture mode the sidebar (the controls) is hidden."""
    if not lecture_on():
        return
    st.markdown(
        """
        <style>
        section[data-testid="stSidebar"], div[data-testid="stSidebarCollapsedControl"] {display: none;}
        .stApp, .stMarkdown p, .stMarkdown li, label, .stCaption,
        [data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
        [data-testid="stWidgetLabel"] p, [data-testid="stSliderThumbValue"],
        [data-testid="stTable"] th, [data-testid="stTable"] td
        {font-size: 1.35rem !important;}
        h1 {font-size: 2.6rem !important;} h2 {font-size: 2.1rem !important;}
        h3 {font-size: 1.8rem !important;} .katex-display .katex {font-size: 1.6rem !important;}
        div[data-testid="stDataFrame"] * {font-size: 1.2rem !important;}
        /* a projector's first screen (1280×720): no app header, little padding, the exit
           button pinned top-right out of the flow, button labels wrap instead of "…" */
        header[data-testid="stHeader"] {display: none;}
        [data-testid="stMainBlockContainer"] {padding-top: 0.6rem !important;
            padding-bottom: 2rem !important;}
        h1 {font-size: 2.2rem !important; padding-top: 0.1rem !important;
            padding-bottom: 0.3rem !important;}
        .stButton button p, .stDownloadButton button p {white-space: normal !important;
            overflow: visible !important; text-overflow: clip !important;}
        .stButton button div, .stDownloadButton button div {overflow: visible !important;}
        div[class*="_exit_lecture"] {position: fixed !important; top: 0.4rem; right: 1rem;
            z-index: 999990; width: auto !important;}
        div[class*="_exit_lecture"] button p {font-size: 1.05rem !important;}
        </style>
        """,
        unsafe_allow_html=True,
    )


def _exit_lecture() -> None:
    # a callback: it runs before the script, i.e. before the sidebar's toggle (same key) is
    # instantiated, which is the only time its state may be written
    st.session_state[LECTURE_KEY] = False
    sc = st.session_state.get(SCENE_KEY)
    if sc is not None:
        set_scene(sc.replace(lecture=False))


def lecture_exit_button(key: str) -> None:
    if lecture_on():
        st.button("Exit lecture mode (show the controls)", key=key, on_click=_exit_lecture)


# ----------------------------------------------------------------------------- run marker
RENDERED_CLASS = "adamem-rendered"
_RUN_COUNT_KEY = "_rendered_runs"
PAGE_KEY = _PAGE_KEY = "_rendered_page"   # the page object running (run_page)


def mark_rendered(status: str = "done") -> None:
    """Write the last element of a run: a hidden marker carrying this session's run number, the
    page and the URL query the page was drawn for. ``run_page`` (app.py's last line) calls it
    after the page has run, so every page gets it; ``stop_page`` before ``st.stop()``. Browser
    tests wait for a marker with a new run number and the expected query: Streamlit sends a
    run's elements in order, so its arrival proves every element of that run has reached the
    page (a rerun that is interrupted, or restarted by ``st.rerun()``, writes none)."""
    n = int(st.session_state.get(_RUN_COUNT_KEY, 0)) + 1
    st.session_state[_RUN_COUNT_KEY] = n
    page = str(st.session_state.get(_PAGE_KEY, ""))
    query = urlencode(sorted(st.query_params.to_dict().items()))
    st.html(f'<style>.stElementContainer:has(.{RENDERED_CLASS}){{display:none}}</style>'
            f'<div class="{RENDERED_CLASS}" hidden data-run="{n}" data-status="{escape(status)}"'
            f' data-page="{escape(page)}" data-query="{escape(query)}"></div>')


def run_page(page: Any) -> None:
    """Run the page ``st.navigation`` chose, then write the run marker (``mark_rendered``)."""
    st.session_state[_PAGE_KEY] = page.url_path or "/"
    page.run()
    mark_rendered()


def stop_page() -> NoReturn:
    """Use instead of ``st.stop()`` in a page: nothing can be written after ``st.stop()``, so
    the run marker (``mark_rendered``) goes first."""
    mark_rendered("stopped")
    st.stop()
    raise AssertionError("unreachable")    # st.stop() raises; this keeps NoReturn honest
