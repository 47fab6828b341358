"""The method, written down: renders docs/method.md (the reference the code cites), one
header per section with the document's stable anchor, so /method#dual opens at that section."""

from __future__ import annotations

import streamlit as st

from adamem_core.method_doc import method_text, sections
from ui.common import apply_lecture_css, lecture_exit_button

apply_lecture_css()
lecture_exit_button("md_exit_lecture")
preamble, parts = sections(method_text())
title, _, rest = preamble.partition("\n")
st.title(title.lstrip("# ").strip())
# the in-document links (#dual) point to the headers' anchors on this page
st.markdown(rest, unsafe_allow_html=True)
for sec in parts:
    st.header(sec.title, anchor=sec.anchor)
    st.markdown(sec.body, unsafe_allow_html=True)
