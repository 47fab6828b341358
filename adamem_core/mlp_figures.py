"""Former home of the MLP lab's figures, kept so that ``from adamem_core import mlp_figures``
still works: they now live in :mod:`adamem_core.figures.mlp`."""

from .figures.mlp import *  # noqa: F401,F403
from .figures.mlp import __all__  # noqa: F401
