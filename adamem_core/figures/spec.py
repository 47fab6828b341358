"""A figure built as plain dicts: the part of ``go.Figure``'s building API the Playground's
charts use, without plotly.py's object model (no Streamlit).

Why: plotly.py validates every property through its graph-object tree as it is set. For the
Playground's 8 optimizers × 500 steps that was most of a second of server CPU per learning-rate
change (≈ 0.5 s for the trajectory chart alone), on every change, since new runs mean new
figures. The browser only needs the JSON. :class:`SpecFigure` records the same calls
(``add_trace``, ``update_layout``, ``update_xaxes`` …) into dicts, merging nested dicts the way
``update`` does, and :meth:`SpecFigure.build` returns either

* a :class:`~adamem_core.figures.frozen.FrozenFigure` (``frozen=True``: the serialised spec,
  what the page sends; arrays as base64 typed arrays like ``plotly.io.to_json`` writes them), or
* a validated ``go.Figure`` of the very same spec (the default: what tests, the HTML download
  and other callers read). A test checks that both serialise to the same JSON, so validation
  would change nothing in what the page sends.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from _plotly_utils.utils import convert_to_base64
from plotly.basedatatypes import BasePlotlyType

from .frozen import FrozenFigure


def _plain(v: Any) -> Any:
    """A graph object (e.g. a template) as its dict; anything else as it is."""
    return v.to_plotly_json() if isinstance(v, BasePlotlyType) else v


def _merge(dst: dict, src: dict) -> None:
    """``dst`` updated by ``src`` as plotly's ``update`` does: nested dicts merged, anything
    else (numbers, strings, arrays, lists) replaced."""
    for k, v in src.items():
        v = _plain(v)
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = Obj(v) if isinstance(v, dict) and not isinstance(v, Obj) else v


class Obj(dict):
    """A trace or the layout: a dict whose keys read as attributes (unset ones as ``None``,
    like a graph object's) and whose ``update`` merges nested dicts."""

    def __init__(self, *a: Any, **kw: Any):
        super().__init__()
        _merge(self, dict(*a, **kw))

    def __getattr__(self, k: str) -> Any:
        if k.startswith("_"):       # private and protocol names are not properties
            raise AttributeError(k)
        return self.get(k)

    def __setattr__(self, k: str, v: Any) -> None:
        self[k] = v

    def update(self, *a: Any, **kw: Any) -> "Obj":   # type: ignore[override]
        _merge(self, dict(*a, **kw))
        return self


def scatter(**kw: Any) -> Obj:
    """A scatter trace (the arguments of ``go.Scatter``)."""
    return Obj(type="scatter", **kw)


class SpecFigure:
    """Records ``go.Figure`` building calls into ``data`` (a list of :class:`Obj`) and
    ``layout`` (an :class:`Obj`); see the module docstring."""

    def __init__(self) -> None:
        self.data: list[Obj] = []
        self.layout = Obj()

    def add_trace(self, trace: Any) -> "SpecFigure":
        tr = Obj(_plain(trace))
        self.data.append(tr)
        return self

    def update_layout(self, *a: Any, **kw: Any) -> "SpecFigure":
        self.layout.update(*a, **kw)
        return self

    def update_xaxes(self, **kw: Any) -> "SpecFigure":
        self.layout.update(xaxis=kw)
        return self

    def update_yaxes(self, **kw: Any) -> "SpecFigure":
        self.layout.update(yaxis=kw)
        return self

    def _append(self, key: str, item: dict) -> "SpecFigure":
        self.layout.setdefault(key, []).append(Obj(item))
        return self

    def add_shape(self, **kw: Any) -> "SpecFigure":
        return self._append("shapes", kw)

    def add_annotation(self, **kw: Any) -> "SpecFigure":
        return self._append("annotations", kw)

    def add_layout_image(self, image: dict | None = None, **kw: Any) -> "SpecFigure":
        return self._append("images", {**(image or {}), **kw})

    def spec(self) -> dict:
        """Plain dicts and lists (arrays still NumPy)."""
        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v
        return {"data": [plain(t) for t in self.data], "layout": plain(self.layout)}

    def build(self, frozen: bool = False, frames: list[dict] | None = None) -> go.Figure:
        """A :class:`FrozenFigure` of the spec (``frozen``), else a validated ``go.Figure``
        (a ``LazyFramesFigure`` when there are ``frames``: plain dicts, see its docstring)."""
        from .playground import LazyFramesFigure

        spec = self.spec()
        if frozen:
            if frames is not None:
                spec["frames"] = frames
                # the frames' arrays exactly as LazyFramesFigure.to_dict writes them
                spec = LazyFramesFigure._with_typed_frames(spec)
            convert_to_base64(spec["data"])     # the layout holds no arrays (a test checks)
            return FrozenFigure(json.loads(pio.to_json(spec, validate=False)))
        if frames is not None:
            fig = LazyFramesFigure(spec)
            fig._set_lazy_frames(frames)
            return fig
        return go.Figure(spec)
