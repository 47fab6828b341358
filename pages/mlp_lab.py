"""MLP lab (placeholder until the MLP page lands)."""

import streamlit as st

st.title("MLP lab")
st.info("Coming with the MLP lab issue.")
