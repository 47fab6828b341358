"""Figures: plain data (engine, sweep and MLP results) → ``plotly.graph_objects.Figure``.

Pure presentation, one module per page family; no module imports Streamlit, so every function
is testable alone. Every number drawn comes from a record or dict built by ``adamem_core``'s
engine, sweep or MLP modules (which take their maths from ``model.py``); figures only slice, clip
and log-transform for display.

- :mod:`.style` — the visual language (DESIGN §5): Okabe–Ito palette, one style per optimizer
  (:func:`style_for`, :func:`assign_styles`; AM-SGD vermillion, AM-AdamW blue, constant-β
  baselines in ramps graded by β with a dash and a marker per kind), normal and lecture themes
  (``lecture=True``: fonts ≥ 20 px, lines ≥ 3 px), axes, legends, number formatting;
- :mod:`.contour` — the contour background (levels, filled trace, PNG raster:
  :func:`contour_raster`);
- :mod:`.spec` — figures built as plain dicts and frozen for the page (the Playground's);
- :mod:`.playground` — trajectories, f(x_t) − f*, β_t, the summary table;
- :mod:`.step` — inside one step: planes, slice, vectors, dual;
- :mod:`.mlp` — the MLP lab's charts.

The public names of the Playground and step charts are importable from the package itself, as
they were from the former single module::

    from adamem_core.figures import trajectory_figure, gap_figure, beta_figure, ...
    from adamem_core.figures import mlp as mf
"""

from .style import (GAP_FLOOR, GEOM, OKABE_ITO, Theme, apply_lecture, assign_styles,  # noqa: F401
                    style_for, theme)
from .contour import _contour_image  # noqa: F401  (tested directly)
from .contour import _contour_image as contour_raster  # noqa: F401  (kept per landscape by ui)
from .playground import (LazyFramesFigure, beta_figure, gap_figure, summary_table,  # noqa: F401
                         trajectory_figure)
from .step import dual_figure, planes_figure, slice_figure, vectors_figure  # noqa: F401
from . import mlp  # noqa: F401

__all__ = ["Theme", "theme", "apply_lecture", "style_for", "assign_styles", "OKABE_ITO", "GEOM",
           "GAP_FLOOR", "LazyFramesFigure", "contour_raster", "trajectory_figure", "gap_figure", "beta_figure",
           "summary_table", "planes_figure", "slice_figure", "vectors_figure", "dual_figure",
           "mlp"]
