"""Streamlit glue shared by the pages: caching, URL/scene syncing, lecture styling.

No maths here: it calls adamem_core (engine, figures) and arranges the results.
"""
