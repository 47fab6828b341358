"""adamem_core: adaptive memory momentum (AM-SGD, AM-AdamW) and its two-plane model.

Reference: V. Topollai and A. Choromanska, "Adaptive Memory Momentum via a Model-Based
Framework for Deep Learning Optimization", arXiv 2510.04988 (AISTATS 2026).

The optimizers import only torch; the 2-D lab (landscapes, expressions, engine, figures) and the
MLP lab need NumPy, SciPy, SymPy, scikit-learn and Plotly (``pip install adamem_core[lab]``).
"""

from .optim import AMSGD, AMAdamW, OPTIMIZERS  # noqa: F401

__all__ = ["AMSGD", "AMAdamW", "OPTIMIZERS"]
__version__ = "0.1.0"
