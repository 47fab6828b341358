"""AdaMem Lab — entry point: page config, navigation over app_pages/, the shared sidebar.

The pages live in ``app_pages/``, not ``pages/``: Streamlit would also treat a ``pages/`` folder
next to this script as a v1 multipage app, and the first visitor of a deep link such as
``/inside`` would get a "Page not found" dialog. Run with ``streamlit run app.py``.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="AdaMem Lab — adaptive memory momentum", page_icon="🧭",
                   layout="wide", initial_sidebar_state="expanded")

from ui.common import (LECTURE_KEY, SCENE_KEY, apply_lecture_css, current_scene,  # noqa: E402
                       run_page, set_scene, torch_device)

PLAYGROUND = "app_pages/playground.py"
PAGES = [
    # the default page is served at "/" whatever its url_path; "home" keeps its internal id
    # apart from the /playground twin below
    st.Page(PLAYGROUND, title="Playground", icon="🏔️", default=True, url_path="home"),
    st.Page("app_pages/inside_step.py", title="Inside one step", icon="🔬", url_path="inside"),
    st.Page("app_pages/theory.py", title="Theory", icon="📈", url_path="theory"),
    st.Page("app_pages/mlp_lab.py", title="MLP lab", icon="🧠", url_path="mlp"),
    st.Page("app_pages/sweeps.py", title="Sweeps", icon="🗺️", url_path="sweeps"),
    st.Page("app_pages/about.py", title="About", icon="📖", url_path="about"),
    st.Page("app_pages/method.py", title="The method", icon="📐", url_path="method"),
]

# Every page's own path is a deep link: Streamlit serves the default page only at "/", so a
# copied /playground?… link would meet "Page not found". A hidden twin answers that path.
DEEP_LINK_TWINS = [
    st.Page(PLAYGROUND, title="Playground", icon="🏔️", url_path="playground",
            visibility="hidden"),
]

nav = st.navigation(PAGES + DEEP_LINK_TWINS)
scene = current_scene()   # reads the URL once per session (validated)


def _lecture_changed() -> None:
    sc = st.session_state.get(SCENE_KEY)
    if sc is not None:
        set_scene(sc.replace(lecture=bool(st.session_state[LECTURE_KEY])))


with st.sidebar:
    st.toggle("Lecture mode", key=LECTURE_KEY, on_change=_lecture_changed,
              help="Hides the controls and enlarges fonts and lines for a projector. "
                   "A button at the top of the page brings the controls back.")
    st.caption(f"torch device: **{torch_device()}**")

apply_lecture_css()
run_page(nav)     # the page, then the run marker that browser tests wait for (ui.common)
