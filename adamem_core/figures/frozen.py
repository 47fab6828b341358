"""A figure serialised once, to be sent many times (no Streamlit).

A server that shows the same scene to a lecture hall should build and serialise its charts once,
not once per student: building a validated ``go.Figure`` and turning it into JSON costs far more
than sending it. :func:`freeze` turns a finished figure into a :class:`FrozenFigure`, a
``go.Figure`` that holds the figure's JSON-ready dict (arrays already base64 typed arrays,
exactly what ``plotly.io.to_json`` writes) and hands it out from ``to_dict``, which is all that
``st.plotly_chart``, ``plotly.io.to_json`` and ``to_html`` read from a figure. Serialising it
again is a plain ``orjson``/``json`` dump of strings and numbers: milliseconds for a megabyte.

A frozen figure is read-only: its ``data`` and ``layout`` attributes are empty and not meant to
be changed; ``spec`` is the dict, ``json`` the text the browser receives.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio


class FrozenFigure(go.Figure):
    """A finished figure as its serialised dict (see the module docstring)."""

    def __init__(self, spec: dict):
        super().__init__()
        # plotly's __setattr__ guards figure properties: keep the spec in the instance dict
        self.__dict__["_frozen_spec"] = spec
        self.__dict__["_frozen_json"] = None

    @property
    def spec(self) -> dict:
        return self.__dict__["_frozen_spec"]

    @property
    def json(self) -> str:
        """The JSON text (what ``plotly.io.to_json`` writes for the original figure)."""
        if self.__dict__["_frozen_json"] is None:
            self.__dict__["_frozen_json"] = json.dumps(self.spec, separators=(",", ":"),
                                                     ensure_ascii=False)
        return self.__dict__["_frozen_json"]

    def to_dict(self) -> dict:
        s = self.spec
        # a fresh top level and fresh trace dicts: plotly.io.to_json pops "uid" from each trace,
        # and the spec is shared by every session that shows this figure
        out: dict[str, Any] = {**s, "data": [dict(tr) for tr in s.get("data", [])]}
        return out

    def to_plotly_json(self) -> dict:
        return self.to_dict()

    def __reduce__(self):
        return (FrozenFigure, (self.spec,))


def freeze(fig: go.Figure) -> FrozenFigure:
    """``fig`` serialised once (typed arrays, no uids) and wrapped as a :class:`FrozenFigure`."""
    if isinstance(fig, FrozenFigure):
        return fig
    return FrozenFigure(json.loads(pio.to_json(fig, validate=False)))
