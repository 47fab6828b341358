"""A safe parser for user-typed functions f(x, y), turned into a :class:`Landscape`.

Students type formulas such as ``x**2 + 10*y**2 + sin(3*x)`` (``^`` is accepted as a synonym
for ``**``). The text is never given to ``eval``, ``exec``, ``compile``, ``sympify`` or
``parse_expr``. Instead:

1. cheap checks on the raw text: non-empty, at most :data:`MAX_LENGTH` characters, plain ASCII
   only (Python would NFKC-normalise look-alikes such as the full-width ``ｘ`` into ``x``), and
   at most :data:`MAX_DEPTH` nested brackets -- all *before* ``ast.parse``;
2. ``ast.parse(text, mode="eval")``, then a walk that accepts ONLY numeric literals, the
   names ``x``, ``y``, ``pi``, ``e``, the operators ``+ - * / **`` (unary ``+``/``-`` too) and
   calls of the functions in :data:`ALLOWED_FUNCTIONS` with exactly one positional argument.
   The exponent of ``**`` must be a constant built from numbers, ``pi``, ``e`` and
   ``+ - * /`` with ``|value| <= MAX_EXPONENT`` (so ``9**9**9`` is refused at once);
   every constant sub-expression must be a finite float64 number;
3. the validated tree is a small private representation (:class:`Formula`). ``value``
   evaluates it directly with NumPy or torch (torch: differentiable with autograd);
   ``grad`` and ``hessian`` come from exact second-order forward-mode differentiation of the
   same tree (chain, product and quotient rules on [f, f_x, f_y, f_xx, f_xy, f_yy]) -- linear
   in the size of the tree, so no formula can make differentiation blow up (``sympy.diff``
   of the Hessian took seconds on 250-character products). SymPy is used only for the LaTeX,
   from an expression built object by object (``Symbol``, ``Integer``, ``sin`` ...), and the
   tests use ``sympy.diff`` of it as an independent oracle;
4. the function is evaluated on a 41 x 41 grid of the domain: if f or its gradient is not
   finite on more than :data:`MAX_NONFINITE_FRACTION` of it (e.g. ``log(x)`` or ``y**0.5``
   on a domain symmetric around 0) the formula is refused. Functions that are non-finite only
   on a small set (``1/x``, ``x**-1``: the grid line x = 0) are accepted; an optimizer that
   lands exactly there sees inf/nan.

Every rejection raises :class:`ExpressionError` (a ``ValueError``) whose message quotes the
offending token, gives its column (1-based in the text, 0-based in ``.position``) and says
what is allowed.
"""

from __future__ import annotations

import ast
import math
import re
import sys
import types
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from .landscape_base import Landscape

__all__ = [
    "ExpressionError", "ALLOWED_FUNCTIONS", "ALLOWED_CONSTANTS", "Formula", "parse", "custom",
    "MAX_LENGTH", "MAX_DEPTH", "MAX_NODES", "MAX_LITERAL", "MAX_LITERAL_DIGITS", "MAX_EXPONENT",
]

# ---------------------------------------------------------------- limits
MAX_LENGTH = 300            # characters of text, checked before anything else
MAX_DEPTH = 30              # nested brackets (scanned before ast.parse) and nesting of operations
MAX_NODES = 200             # expression nodes in the parsed tree
MAX_LITERAL = 1e6           # |numeric literal| <= MAX_LITERAL
MAX_LITERAL_DIGITS = 20     # digits in one numeric literal
MAX_EXPONENT = 10.0         # |exponent| of ** (a constant)
MAX_NONFINITE_FRACTION = 0.2
GRID = 41                   # grid points per axis for the finiteness / lr / convexity checks
_MAX_EXACT_BITS = 4096      # exact rational powers larger than this are done in floating point

# ---------------------------------------------------------------- vocabulary
# name -> (arity, canonical name). Canonical names index the tables below.
_FUNCTIONS: dict[str, tuple[int, str]] = {
    "sin": (1, "sin"), "cos": (1, "cos"), "tan": (1, "tan"),
    "exp": (1, "exp"), "log": (1, "log"), "ln": (1, "log"), "sqrt": (1, "sqrt"),
    "abs": (1, "abs"), "tanh": (1, "tanh"), "sinh": (1, "sinh"), "cosh": (1, "cosh"),
    "arctan": (1, "atan"), "atan": (1, "atan"),
}
#: Functions a formula may call, name -> number of arguments (``log``/``ln`` is the natural log).
ALLOWED_FUNCTIONS = types.MappingProxyType({k: a for k, (a, _) in _FUNCTIONS.items()})
#: Constant names a formula may use.
ALLOWED_CONSTANTS = types.MappingProxyType({"pi": math.pi, "e": math.e})
_VARIABLES = ("x", "y")

_NP_FUNCS = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log,
    "sqrt": np.sqrt, "abs": np.abs, "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh,
    "atan": np.arctan,
}
_TORCH_FUNCS = {  # attribute names on the torch module
    "sin": "sin", "cos": "cos", "tan": "tan", "exp": "exp", "log": "log", "sqrt": "sqrt",
    "abs": "abs", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "atan": "atan",
}

ALLOWED_HINT = (
    "Allowed: numbers, x, y, pi, e, + - * / ** (or ^), parentheses, and the functions "
    + ", ".join(sorted(ALLOWED_FUNCTIONS)) + "."
)
EXAMPLE = "x**2 + 10*y**2 + sin(3*x)"


class ExpressionError(ValueError):
    """A formula was refused. ``position`` is the 0-based column in the text, when known."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position


# ---------------------------------------------------------------- the validated representation
# A node is a tuple:
#   ("num", value)            value: int or float (bounded)
#   ("var", "x" | "y")
#   ("const", "pi" | "e")
#   ("add" | "sub" | "mul" | "div", left, right)
#   ("neg", child)
#   ("pow", base, exponent)   exponent: a constant node (numbers, pi, e, + - * /, neg)
#   ("call", canonical_function_name, argument)
Node = tuple


@dataclass(frozen=True)
class Formula:
    """A validated formula: only whitelisted constructs, bounded size and constants."""

    text: str            # as typed
    source: str          # normalised text that was parsed (``^`` -> ``**``, whitespace)
    tree: Node
    variables: frozenset  # subset of {"x", "y"} actually used

    def evaluate(self, xy: Any) -> Any:
        """f at points ``xy`` of shape (..., 2): NumPy array (float64) or torch tensor."""
        return _evaluate_value(self.tree, xy)

    def to_sympy(self):
        """The SymPy expression, built object by object from the validated tree."""
        import sympy
        xs, ys = _symbols()
        return _to_sympy(self.tree, {"x": xs, "y": ys}, sympy)

    def __str__(self) -> str:
        return self.text.strip()


# ---------------------------------------------------------------- parsing
def _quote(s: str, limit: int = 40) -> str:
    s = s if len(s) <= limit else s[: limit - 3] + "..."
    return repr(s)


class _Validator:
    def __init__(self, text: str, src: str, posmap: list[int]):
        self.text, self.src, self.posmap = text, src, posmap

    # positions -------------------------------------------------------------------------------
    def pos(self, col: int | None) -> int | None:
        if col is None:
            return None
        col = max(0, min(col, len(self.posmap) - 1))
        return self.posmap[col]

    def seg(self, node: ast.AST) -> str:
        try:
            return self.src[node.col_offset:node.end_col_offset]
        except (AttributeError, TypeError):
            return ""

    def error(self, what: str, col: int | None, hint: bool = True) -> ExpressionError:
        p = self.pos(col)
        where = f" at column {p + 1}" if p is not None else ""
        msg = f"{what}{where}."
        if hint:
            msg += " " + ALLOWED_HINT
        return ExpressionError(msg, p)

    def refuse(self, what: str, node: ast.AST, col: int | None = None) -> ExpressionError:
        return self.error(f"{what} is not allowed",
                          node.col_offset if col is None else col)

    # the walk -------------------------------------------------------------------------------
    def convert(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error(f"the formula is nested too deeply (more than {MAX_DEPTH} levels of "
                             f"functions and operations)", node.col_offset)
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return ("neg", self.convert(node.operand, depth + 1))
            if isinstance(node.op, ast.UAdd):
                return self.convert(node.operand, depth + 1)
            sym = {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), type(node.op).__name__)
            raise self.refuse(f"the operator {sym!r} (in {_quote(self.seg(node))})", node)
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.construct(node)

    def number(self, node: ast.Constant) -> Node:
        v, s = node.value, self.seg(node)
        if isinstance(v, bool) or v is None or v is Ellipsis:
            raise self.refuse(f"the name {s!r}", node)
        if isinstance(v, complex):
            raise self.refuse(f"the complex number {_quote(s)}", node)
        if isinstance(v, (str, bytes)):
            kind = "bytes" if isinstance(v, bytes) else "text in quotes"
            raise self.refuse(f"{kind} {_quote(s)}", node)
        if type(v) not in (int, float):
            raise self.refuse(f"the constant {_quote(s)}", node)
        mantissa = s.lower().split("e")[0] if not s.lower().startswith(("0x", "0b", "0o")) else s
        digits = sum(c.isdigit() for c in mantissa)
        if digits > MAX_LITERAL_DIGITS:
            raise self.error(f"the number {_quote(s)} has too many digits "
                             f"(at most {MAX_LITERAL_DIGITS})", node.col_offset)
        if not (abs(v) <= MAX_LITERAL):   # also catches inf (1e400) and nan
            raise self.error(f"the number {_quote(s)} is too large (numbers must be at most "
                             f"{MAX_LITERAL:g} in size; write e.g. 1e6*x, not 1e7*x)",
                             node.col_offset)
        return ("num", v)

    def name(self, node: ast.Name) -> Node:
        n = node.id
        if n in _VARIABLES:
            return ("var", n)
        if n in ALLOWED_CONSTANTS:
            return ("const", n)
        if n in ALLOWED_FUNCTIONS:
            raise self.error(f"{n!r} is a function: write it with parentheses, e.g. {n}(x)",
                             node.col_offset)
        if n.lower() in _VARIABLES:
            raise self.error(f"unknown name {n!r} (the variables are lower-case x and y)",
                             node.col_offset)
        raise self.error(f"unknown name {_quote(n)} (the only variables are x and y)",
                         node.col_offset)

    _BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
    _BAD_BINOPS = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.BitAnd: "&",
                   ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
    _CHAIN = {"add": ("add", "sub"), "sub": ("add", "sub"), "mul": ("mul", "div"),
              "div": ("mul", "div")}

    def op_col(self, node: ast.BinOp, sym: str) -> int:
        i = self.src.find(sym, node.left.end_col_offset or 0)
        return i if i >= 0 else node.col_offset

    def binop(self, node: ast.BinOp, depth: int) -> Node:
        op = self._BINOPS.get(type(node.op))
        if op is None:
            sym = self._BAD_BINOPS.get(type(node.op), type(node.op).__name__)
            raise self.refuse(f"the operator {sym!r}", node, self.op_col(node, sym))
        # Left-associative chains (a + b - c + ...) do not count as nesting.
        left_in_chain = (isinstance(node.left, ast.BinOp)
                         and self._BINOPS.get(type(node.left.op)) in self._CHAIN.get(op, ()))
        left = self.convert(node.left, depth if left_in_chain else depth + 1)
        right = self.convert(node.right, depth + 1)
        if op == "pow":
            self.check_exponent(node.right, right, self.op_col(node, "**"))
        return (op, left, right)

    def check_exponent(self, ast_node: ast.AST, exp: Node, col: int) -> None:
        s = _quote(self.seg(ast_node))
        if not _is_plain_constant(exp):
            raise self.error(
                f"the exponent {s} must be a constant number between -{MAX_EXPONENT:g} and "
                f"{MAX_EXPONENT:g} built from numbers, pi, e and + - * / (e.g. x**2, "
                f"x**(1/2)); powers of powers such as 9**9**9 and powers with x or y in "
                f"the exponent (use exp(...)) are not allowed", col)
        v = _const_value(exp)
        if not (abs(v) <= MAX_EXPONENT):
            raise self.error(f"the exponent {s} is too large (exponents must be between "
                             f"-{MAX_EXPONENT:g} and {MAX_EXPONENT:g})", col)

    def call(self, node: ast.Call, depth: int) -> Node:
        f = node.func
        if not isinstance(f, ast.Name):
            raise self.refuse(f"calling {_quote(self.seg(f))}", node)
        if f.id not in ALLOWED_FUNCTIONS:
            raise self.error(f"unknown function {_quote(f.id)}", node.col_offset)
        arity, canonical = _FUNCTIONS[f.id]
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.refuse(f"the argument {_quote(self.seg(a))} of {f.id}(...)", a)
        if node.keywords:
            k = node.keywords[0]
            label = f"{k.arg}=..." if k.arg else "**..."
            raise self.refuse(f"the keyword argument {label!r} in {_quote(self.seg(node))}", node)
        if len(node.args) != arity:
            raise self.error(f"{f.id}(...) takes exactly {arity} argument, got "
                             f"{len(node.args)} in {_quote(self.seg(node))}", node.col_offset)
        return ("call", canonical, self.convert(node.args[0], depth + 1))

    _CONSTRUCTS = {
        ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Slice: "slicing",
        ast.Lambda: "lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
        ast.List: "a list", ast.Tuple: "a tuple (or a comma)", ast.Set: "a set",
        ast.Dict: "a dictionary", ast.Compare: "a comparison", ast.BoolOp: "'and' / 'or'",
        ast.IfExp: "a conditional expression ('if ... else')", ast.JoinedStr: "an f-string",
        ast.FormattedValue: "an f-string", ast.NamedExpr: "assignment ':='",
        ast.Starred: "'*' unpacking", ast.Await: "'await'", ast.Yield: "'yield'",
        ast.YieldFrom: "'yield from'",
    }

    def construct(self, node: ast.AST) -> ExpressionError:
        kind = self._CONSTRUCTS.get(type(node), f"the construct {type(node).__name__}")
        col = node.col_offset
        if isinstance(node, ast.Attribute):  # point at the dot
            dot = self.src.find(".", node.value.end_col_offset or 0)
            col = dot if dot >= 0 else col
        elif isinstance(node, ast.Subscript):
            br = self.src.find("[", node.value.end_col_offset or 0)
            col = br if br >= 0 else col
        return self.refuse(f"{kind} {_quote(self.seg(node))}", node, col)


def _is_plain_constant(n: Node) -> bool:
    """Numbers, pi, e, + - * / and unary minus only (no variables, powers or calls)."""
    tag = n[0]
    if tag in ("num", "const"):
        return True
    if tag == "neg":
        return _is_plain_constant(n[1])
    if tag in ("add", "sub", "mul", "div"):
        return _is_plain_constant(n[1]) and _is_plain_constant(n[2])
    return False


def _has_variable(n: Node) -> bool:
    tag = n[0]
    if tag == "var":
        return True
    if tag in ("num", "const"):
        return False
    if tag in ("neg", "call"):
        return _has_variable(n[-1])
    return _has_variable(n[1]) or _has_variable(n[2])


def _variables(n: Node, acc: set) -> set:
    tag = n[0]
    if tag == "var":
        acc.add(n[1])
    elif tag in ("neg", "call"):
        _variables(n[-1], acc)
    elif tag not in ("num", "const"):
        _variables(n[1], acc)
        _variables(n[2], acc)
    return acc


def _const_value(n: Node) -> float:
    """Float64 value of a constant sub-tree (nan/inf instead of exceptions)."""
    with np.errstate(all="ignore"):
        v = _eval(n, None, None, np, _NP_FUNCS)
    return float(v)


def _normalise(text: str) -> tuple[str, list[int]]:
    """``^`` -> ``**``, tabs/newlines -> spaces, leading blanks dropped; with a map from each
    character of the result (and one past its end) to its column in ``text``."""
    out: list[str] = []
    posmap: list[int] = []
    for i, ch in enumerate(text):
        if ch == "^":
            out += ["*", "*"]
            posmap += [i, i]
        else:
            out.append(" " if ch in "\t\n\r\f\v" else ch)
            posmap.append(i)
    lead = 0
    while lead < len(out) and out[lead] == " ":
        lead += 1
    src = "".join(out[lead:])
    return src, posmap[lead:] + [len(text)]


def _syntax_message(text: str, pos: int | None, msg: str) -> str:
    msg = (msg or "invalid syntax").split(". Perhaps")[0].split(". Maybe")[0].split(". Did")[0]
    if pos is None or pos >= len(text.rstrip()):
        where = " at the end of the formula"
    else:
        where = f" at column {pos + 1}, near {_quote(text[pos:pos + 12])}"
    hint = ""
    if re.search(r"\d\s*[A-Za-z_(]|\)\s*[\w(]", text):
        hint = " Multiplication must be written with *, e.g. 2*x or (x+1)*(y-1)."
    return f"syntax error{where}: {msg}.{hint} {ALLOWED_HINT}"


def parse(text: str) -> Formula:
    """Validate ``text`` and return a :class:`Formula`; raise :class:`ExpressionError`."""
    if not isinstance(text, str):
        raise ExpressionError(f"the formula must be text, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError(f"Enter a formula in x and y, e.g. {EXAMPLE}. {ALLOWED_HINT}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the formula is too long ({len(text)} characters; at most "
                              f"{MAX_LENGTH}). {ALLOWED_HINT}", MAX_LENGTH)
    for i, ch in enumerate(text):
        if not (" " <= ch <= "~" or ch in "\t\n\r"):
            name = unicodedata.name(ch, "") or "control character"
            raise ExpressionError(
                f"the character {ch!r} (U+{ord(ch):04X} {name}) at column {i + 1} is not "
                f"allowed: only plain ASCII characters are accepted. If it looks like a normal "
                f"letter it is a look-alike (e.g. Cyrillic or full-width): retype it on an "
                f"English keyboard. {ALLOWED_HINT}", i)
        if ch in "\\#":  # never part of a formula; Python would read a comment / a line
            # continuation (or warn about an escape sequence in a string)
            raise ExpressionError(f"the character {ch!r} at column {i + 1} is not allowed. "
                                  f"{ALLOWED_HINT}", i)
    src, posmap = _normalise(text)
    depth = 0
    for i, ch in enumerate(src):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    f"the formula is nested too deeply: more than {MAX_DEPTH} open brackets at "
                    f"column {posmap[i] + 1}. {ALLOWED_HINT}", posmap[i])
        elif ch in ")]}":
            depth -= 1
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        pos = None
        if e.offset is not None and (e.lineno in (None, 1)):
            pos = posmap[max(0, min(e.offset - 1, len(posmap) - 1))]
        raise ExpressionError(_syntax_message(text, pos, e.msg), pos) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise ExpressionError(f"the formula could not be read ({type(e).__name__}). "
                              f"{ALLOWED_HINT}") from None
    n_nodes = sum(1 for n in ast.walk(tree) if isinstance(n, ast.expr))
    if n_nodes > MAX_NODES:
        raise ExpressionError(f"the formula is too large ({n_nodes} parts; at most "
                              f"{MAX_NODES}). {ALLOWED_HINT}")
    v = _Validator(text, src, posmap)
    ir = v.convert(tree.body, 1)
    _check_constants(ir)
    return Formula(text=text, source=src, tree=ir, variables=frozenset(_variables(ir, set())))


def _check_constants(n: Node) -> None:
    """Every maximal constant sub-tree must be a finite float64 number (bounds what SymPy and
    mpmath will ever have to compute, e.g. refuses exp(1000000) and 1/0)."""
    stack = [n]
    while stack:
        m = stack.pop()
        if not _has_variable(m):
            if _has_nonfinite_part(m):
                raise ExpressionError(
                    f"the constant part {_quote(_render(m))} is not a finite number "
                    f"(division by zero, or too large?). {ALLOWED_HINT}")
            continue
        if m[0] in ("neg", "call"):
            stack.append(m[-1])
        elif m[0] in ("add", "sub", "mul", "div", "pow"):
            stack += [m[1], m[2]]


def _has_nonfinite_part(n: Node) -> bool:
    if not math.isfinite(_const_value(n)):
        return True
    if n[0] in ("neg", "call"):
        return _has_nonfinite_part(n[-1])
    if n[0] in ("add", "sub", "mul", "div", "pow"):
        return _has_nonfinite_part(n[1]) or _has_nonfinite_part(n[2])
    return False


def _render(n: Node) -> str:
    tag = n[0]
    if tag == "num":
        return repr(n[1])
    if tag in ("var", "const"):
        return n[1]
    if tag == "neg":
        return f"-({_render(n[1])})"
    if tag == "call":
        return f"{n[1]}({_render(n[2])})"
    sym = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}[tag]
    return f"({_render(n[1])} {sym} {_render(n[2])})"


# ---------------------------------------------------------------- numeric evaluation of the tree
def _eval(n: Node, x: Any, y: Any, ns: Any, funcs: dict) -> Any:
    """Evaluate a node. Constant sub-trees are NumPy float64 scalars (so (-8)**(1/3) is nan,
    not a Python complex); once x or y is involved the arrays/tensors of ``ns`` are used."""
    tag = n[0]
    if tag == "num":
        return np.float64(n[1])
    if tag == "const":
        return np.float64(ALLOWED_CONSTANTS[n[1]])
    if tag == "var":
        return x if n[1] == "x" else y
    if tag == "neg":
        return -_eval(n[1], x, y, ns, funcs)
    if tag == "call":
        a = _eval(n[2], x, y, ns, funcs)
        if isinstance(a, np.floating):
            return _NP_FUNCS[n[1]](a)
        return funcs[n[1]](a)
    a = _eval(n[1], x, y, ns, funcs)
    b = _eval(n[2], x, y, ns, funcs)
    if ns is not np:  # torch: mix tensors with plain Python floats only
        if isinstance(a, np.floating) and isinstance(b, np.floating):
            pass
        else:
            a = float(a) if isinstance(a, np.floating) else a
            b = float(b) if isinstance(b, np.floating) else b
    if tag == "add":
        return a + b
    if tag == "sub":
        return a - b
    if tag == "mul":
        return a * b
    if tag == "div":
        return a / b
    # pow: the exponent is always a constant
    if isinstance(a, (np.floating, np.ndarray)):
        return np.power(a, b)
    return a ** b


def _torch_of(xy: Any):
    """The torch module when ``xy`` is a tensor (torch is then already imported), else None."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(xy, torch.Tensor):
        return torch
    return None


def _evaluate_value(tree: Node, xy: Any) -> Any:
    torch = _torch_of(xy)
    if torch is not None:
        if xy.shape[-1:] != (2,):
            raise ValueError(f"points must have shape (..., 2), got {tuple(xy.shape)}")
        funcs = {k: getattr(torch, v) for k, v in _TORCH_FUNCS.items()}
        x, y = xy[..., 0], xy[..., 1]
        with np.errstate(all="ignore"):
            r = _eval(tree, x, y, torch, funcs)
        if not isinstance(r, torch.Tensor) or r.shape != x.shape:
            # constant (or x/y-free part): keep the autograd graph connected to xy
            r = x * 0.0 + (float(r) if isinstance(r, np.floating) else r)
        return r
    a = np.asarray(xy, dtype=np.float64)
    if a.shape[-1:] != (2,):
        raise ValueError(f"points must have shape (..., 2), got {a.shape}")
    x, y = a[..., 0], a[..., 1]
    with np.errstate(all="ignore"):
        r = _eval(tree, x, y, np, _NP_FUNCS)
        r = np.broadcast_to(np.asarray(r, dtype=np.float64), x.shape).copy()
    return r[()] if r.ndim == 0 else r


# ---------------------------------------------------------------- SymPy (LaTeX; an oracle in tests)
def _symbols():
    import sympy
    return sympy.Symbol("x", real=True), sympy.Symbol("y", real=True)


def _to_sympy(n: Node, syms: dict, sympy: Any):
    tag = n[0]
    if tag == "num":
        v = n[1]
        return sympy.Integer(v) if isinstance(v, int) else sympy.Float(v)
    if tag == "const":
        return sympy.pi if n[1] == "pi" else sympy.E
    if tag == "var":
        return syms[n[1]]
    if tag == "neg":
        return -_to_sympy(n[1], syms, sympy)
    if tag == "call":
        a = _to_sympy(n[2], syms, sympy)
        f = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp,
             "log": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs, "tanh": sympy.tanh,
             "sinh": sympy.sinh, "cosh": sympy.cosh, "atan": sympy.atan}[n[1]]
        return f(a)
    a = _to_sympy(n[1], syms, sympy)
    b = _to_sympy(n[2], syms, sympy)
    if tag == "add":
        return a + b
    if tag == "sub":
        return a - b
    if tag == "mul":
        return a * b
    if tag == "div":
        return a / b
    # pow: keep exact rational powers small (((1/10**6)**10)**10 ... would grow without bound)
    if a.is_Rational and b.is_Integer:
        bits = (abs(a.p).bit_length() + abs(a.q).bit_length()) * abs(int(b))
        if bits > _MAX_EXACT_BITS:
            a = sympy.Float(a)
    return a ** b


def _phi(name: str, t: Any, second: bool) -> tuple[Any, Any, Any]:
    """(phi(t), phi'(t), phi''(t)) for the one-argument functions (phi'' None unless second)."""
    if name == "sin":
        s, c = np.sin(t), np.cos(t)
        return s, c, (-s if second else None)
    if name == "cos":
        s, c = np.sin(t), np.cos(t)
        return c, -s, (-c if second else None)
    if name == "tan":
        v = np.tan(t)
        d = 1.0 + v * v
        return v, d, (2.0 * v * d if second else None)
    if name == "exp":
        v = np.exp(t)
        return v, v, (v if second else None)
    if name == "log":
        return np.log(t), 1.0 / t, (-1.0 / (t * t) if second else None)
    if name == "sqrt":
        v = np.sqrt(t)
        return v, 0.5 / v, (-0.25 / (v * t) if second else None)
    if name == "abs":   # second derivative 0 away from the kink (the kink itself: 0 too)
        return np.abs(t), np.sign(t), (np.zeros_like(t) if second else None)
    if name == "tanh":
        v = np.tanh(t)
        d = 1.0 - v * v
        return v, d, (-2.0 * v * d if second else None)
    if name == "sinh":
        return np.sinh(t), np.cosh(t), (np.sinh(t) if second else None)
    if name == "cosh":
        return np.cosh(t), np.sinh(t), (np.cosh(t) if second else None)
    if name == "atan":
        q = 1.0 / (1.0 + t * t)
        return np.arctan(t), q, (-2.0 * t * q * q if second else None)
    raise AssertionError(name)  # unreachable: the validator only admits the names above


def _power(t: Any, p: float, second: bool) -> tuple[Any, Any, Any]:
    """(t**p, p t**(p-1), p (p-1) t**(p-2)) for a constant exponent p, exact at t = 0 for the
    integer cases (x**1, x**2 have finite derivatives there)."""
    v = np.power(t, p)
    d1 = np.zeros_like(v) if p == 0 else (np.ones_like(v) if p == 1 else p * np.power(t, p - 1))
    d2 = None
    if second:
        d2 = (np.zeros_like(v) if p in (0, 1) else
              np.full_like(v, 2.0) if p == 2 else p * (p - 1) * np.power(t, p - 2))
    return v, d1, d2


def _chain(u: list, f: tuple) -> list:
    """Jet of phi(u) from the jet of u and (phi, phi', phi'')."""
    f0, f1, f2 = f
    out = [f0, f1 * u[1], f1 * u[2]]
    if len(u) > 3:
        ux, uy = u[1], u[2]
        out += [f2 * ux * ux + f1 * u[3], f2 * ux * uy + f1 * u[4], f2 * uy * uy + f1 * u[5]]
    return out


def _jet(n: Node, x: np.ndarray, y: np.ndarray, second: bool) -> list:
    """Forward-mode differentiation of the validated tree: [f, f_x, f_y] and, when ``second``,
    also [f_xx, f_xy, f_yy]. Exact (no finite differences), linear in the size of the tree.
    Constant parts carry scalar zeros; NumPy broadcasting does the rest."""
    tag = n[0]
    k = 6 if second else 3
    if tag in ("num", "const"):
        v = np.float64(n[1] if tag == "num" else ALLOWED_CONSTANTS[n[1]])
        return [v] + [0.0] * (k - 1)
    if tag == "var":
        one = [x, 1.0, 0.0] if n[1] == "x" else [y, 0.0, 1.0]
        return one + [0.0] * (k - 3)
    if tag == "neg":
        return [-c for c in _jet(n[1], x, y, second)]
    if tag == "call":
        u = _jet(n[2], x, y, second)
        return _chain(u, _phi(n[1], u[0], second))
    if tag == "pow":
        u = _jet(n[1], x, y, second)
        return _chain(u, _power(u[0], _const_value(n[2]), second))
    a = _jet(n[1], x, y, second)
    b = _jet(n[2], x, y, second)
    if tag == "add":
        return [p + q for p, q in zip(a, b)]
    if tag == "sub":
        return [p - q for p, q in zip(a, b)]
    if tag == "div":   # a * (1/b)
        t = b[0]
        r = 1.0 / t
        b = _chain(b, (r, -r * r, (2.0 * r * r * r) if second else None))
    # product rule
    out = [a[0] * b[0], a[1] * b[0] + a[0] * b[1], a[2] * b[0] + a[0] * b[2]]
    if second:
        out += [a[3] * b[0] + 2.0 * a[1] * b[1] + a[0] * b[3],
                a[4] * b[0] + a[1] * b[2] + a[2] * b[1] + a[0] * b[4],
                a[5] * b[0] + 2.0 * a[2] * b[2] + a[0] * b[5]]
    return out


def _derivatives(tree: Node, xy: Any, second: bool) -> tuple[np.ndarray, list]:
    a = np.asarray(xy, dtype=np.float64)
    if a.shape[-1:] != (2,):
        raise ValueError(f"points must have shape (..., 2), got {a.shape}")
    x, y = a[..., 0], a[..., 1]
    with np.errstate(all="ignore"):
        j = _jet(tree, x, y, second)
        return x, [np.broadcast_to(np.asarray(c, dtype=np.float64), x.shape) for c in j]


def _gradient(tree: Node, xy: Any) -> np.ndarray:
    _, j = _derivatives(tree, xy, False)
    return np.stack([j[1], j[2]], axis=-1)


def _hessian(tree: Node, xy: Any) -> np.ndarray:
    _, j = _derivatives(tree, xy, True)
    return np.stack([np.stack([j[3], j[4]], -1), np.stack([j[4], j[5]], -1)], -2)


# ---------------------------------------------------------------- the Landscape
def _check_domain(domain) -> tuple[tuple[float, float], tuple[float, float]]:
    try:
        (a, b), (c, d) = domain
        a, b, c, d = (float(v) for v in (a, b, c, d))
    except (TypeError, ValueError) as e:
        raise ValueError(f"domain must be ((xmin, xmax), (ymin, ymax)), got {domain!r}") from e
    if not all(math.isfinite(v) for v in (a, b, c, d)) or not (a < b and c < d):
        raise ValueError(f"domain must be finite with xmin < xmax and ymin < ymax, got {domain!r}")
    return (a, b), (c, d)


def _grid(domain) -> np.ndarray:
    (a, b), (c, d) = domain
    xs, ys = np.linspace(a, b, GRID), np.linspace(c, d, GRID)
    X, Y = np.meshgrid(xs, ys, indexing="xy")
    return np.stack([X, Y], axis=-1)


def _finiteness(pts: np.ndarray, bad: np.ndarray, domain, what: str) -> None:
    frac = float(bad.mean())
    if frac > MAX_NONFINITE_FRACTION:
        (a, b), (c, d) = domain
        i = np.argwhere(bad)[0]
        px, py = pts[tuple(i)]
        raise ExpressionError(
            f"{what} is not finite on {100 * frac:.0f}% of the domain [{a:g}, {b:g}] x "
            f"[{c:g}, {d:g}], e.g. at (x, y) = ({px:.3g}, {py:.3g}) (at most "
            f"{100 * MAX_NONFINITE_FRACTION:.0f}% is tolerated). Use a function defined on the "
            f"whole domain, e.g. log(1 + x**2) instead of log(x), sqrt(x**2 + 1) instead of "
            f"sqrt(x).")


def _nice(v: float) -> float:
    return float(f"{v:.2g}")


def _latex(formula: Formula) -> str:
    try:
        import sympy
        return "f(x, y) = " + sympy.latex(formula.to_sympy())
    except Exception:  # SymPy missing or failing on a validated formula: plain text instead
        return "f(x, y) = " + formula.source.replace("**", "^").replace("*", r" \cdot ")


def custom(text: str, domain=((-3.0, 3.0), (-3.0, 3.0)), start=None,
           name: str = "custom") -> Landscape:
    """A :class:`Landscape` for the user formula ``text`` (see the module docstring).

    ``value`` accepts NumPy or torch (..., 2); ``grad`` and ``hessian`` are exact (forward-mode
    differentiation of the validated tree) and vectorised over NumPy float64 (..., 2).
    ``minima`` is ``[]`` (unknown); ``lr["sgd"]`` is ``1/L`` clipped to [1e-4, 1] with L the
    largest |Hessian eigenvalue| on a grid of the domain, ``lr["adamw"]`` is 0.05 times the
    larger side of the domain; ``convex`` is a best-effort grid check of the Hessian.
    ``start`` defaults to the point 70% of the way from the centre to the upper-left corner.
    """
    formula = parse(text)
    domain = _check_domain(domain)
    pts = _grid(domain)
    tree = formula.tree

    _, j = _derivatives(tree, pts, True)
    f_ok = np.isfinite(j[0])
    _finiteness(pts, ~f_ok, domain, "f")
    bad = ~(f_ok & np.isfinite(j[1]) & np.isfinite(j[2]))
    _finiteness(pts, bad, domain, "f or its gradient")

    def value(xy: Any) -> Any:
        return _evaluate_value(tree, xy)

    def grad(xy: Any) -> np.ndarray:
        return _gradient(tree, xy)

    def hessian(xy: Any) -> np.ndarray:
        return _hessian(tree, xy)

    (a, b), (c, d) = domain
    if start is None:
        cx, cy = (a + b) / 2, (c + d) / 2
        start = (round(cx + 0.7 * (a - cx), 12), round(cy + 0.7 * (d - cy), 12))
    try:
        sx, sy = (float(v) for v in start)
    except (TypeError, ValueError) as e:
        raise ValueError(f"start must be a point (x, y), got {start!r}") from e
    if not (math.isfinite(sx) and math.isfinite(sy)):
        raise ValueError(f"start must be finite, got {start!r}")
    p0 = np.array([sx, sy])
    if not (np.isfinite(value(p0)) and np.isfinite(grad(p0)).all()):
        raise ExpressionError(f"f or its gradient is not finite at the start point "
                              f"({sx:g}, {sy:g}); choose another start.")

    H = np.stack([np.stack([j[3], j[4]], -1), np.stack([j[4], j[5]], -1)], -2).reshape(-1, 2, 2)
    ok = np.isfinite(H).all(axis=(1, 2))
    eig = np.linalg.eigvalsh(H[ok]) if ok.any() else np.zeros((0, 2))
    L = float(np.abs(eig).max()) if eig.size else 0.0
    lr_sgd = 1.0 if L <= 0 else float(np.clip(1.0 / L, 1e-4, 1.0))
    convex = bool(ok.all() and eig.size
                  and eig.min() >= -1e-9 * max(1.0, float(np.abs(eig).max())))

    return Landscape(
        name=name,
        title=f"Custom: {text.strip()}",
        latex=_latex(formula),
        value=value,
        grad=grad,
        hessian=hessian,
        domain=domain,
        minima=[],
        start=(sx, sy),
        lr={"sgd": _nice(lr_sgd), "adamw": _nice(0.05 * max(b - a, d - c))},
        note="Your function.",
        convex=convex,
    )
