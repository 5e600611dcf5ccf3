"""Litmus programs: the text format, close to the kernel's C litmus tests.

A litmus program is a handful of threads, each a few memory accesses, and a
condition on the final state.  :func:`parse` reads the format the Linux kernel's
``tools/memory-model/litmus-tests`` use (herd7's C litmus format), so those tests
parse unchanged; :mod:`rbmap.checker.memmodel` decides whether the condition is
reachable under the Linux kernel memory model.  Nothing here knows what the
programs are about.

The format, by example::

    C MP+wmb+rmb                         the first line: C and a name

    (*                                   comments: (* *) outside the code,
     * Result: Never                     // and /* */ anywhere; "Result:" states
     *)                                  the expected verdict

    { x=0; int *p=&y; }                  initial values (default 0); a location
                                         name or &name is that location's address
    P0(int *x, int *y)                   one function per thread, P0, P1, ...;
    {                                    each pointer parameter names a shared
        WRITE_ONCE(*x, 1);               location
        smp_wmb();
        WRITE_ONCE(*y, 1);
    }

    P1(int *x, int *y)
    {
        int r0 = READ_ONCE(*y);          registers: local variables
        smp_rmb();
        int r1 = READ_ONCE(*x);
    }

    locations [x; 1:r0]                  optional: more values to show
    exists (1:r0=1 /\\ 1:r1=0)            exists, ~exists or forall: a condition
                                         on registers (T:r) and final values (x)

Thread bodies are a small C subset: declarations, assignments, expression
statements, ``if``/``else`` and blocks; expressions with integer arithmetic,
comparisons, ``&&``/``||``/``!``, ``?:``, calls, ``*p`` and ``&x``.  Loops,
``goto``, structs and arrays are refused with a reason (unroll by hand; name each
field as a location).  Which calls mean what is
:data:`rbmap.checker.memmodel.PRIMITIVES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Union

__all__ = ["LitmusError", "Litmus", "Thread", "parse", "Num", "Name", "Unary",
           "Binary", "Ternary", "Call", "Deref", "AddrOf", "Decl", "Assign",
           "ExprStmt", "If", "CondAtom", "CondNot", "CondAnd", "CondOr", "CondConst",
           "VERDICTS"]

VERDICTS = ("Never", "Sometimes", "Always")
# What a "Result:" line may state: a verdict, or DEADLOCK (no allowed execution at
# all, herd's "Never 0 0"), optionally followed by DATARACE (the data-race flag is
# expected), as tools/memory-model/scripts/judgelitmus.sh reads it.
RESULTS = VERDICTS + ("DEADLOCK",)


class LitmusError(Exception):
    """A litmus program the parser or the model cannot take; the message names the
    line and the reason."""

    def __init__(self, message: str, line: Optional[int] = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


# --- expressions and statements -------------------------------------------------------

@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Name:
    name: str
    line: int = 0


@dataclass(frozen=True)
class Unary:
    op: str          # "-", "!", "~"
    arg: "Expr"


@dataclass(frozen=True)
class Binary:
    op: str
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Ternary:
    cond: "Expr"
    then: "Expr"
    other: "Expr"


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple
    line: int = 0


@dataclass(frozen=True)
class Deref:
    arg: "Expr"


@dataclass(frozen=True)
class AddrOf:
    name: str


Expr = Union[Num, Name, Unary, Binary, Ternary, Call, Deref, AddrOf]


@dataclass(frozen=True)
class Decl:
    ctype: str
    name: str
    init: Optional[Expr]
    line: int
    src: str


@dataclass(frozen=True)
class Assign:
    target: Expr     # Name (a register) or Deref (a plain store)
    value: Expr
    line: int
    src: str


@dataclass(frozen=True)
class ExprStmt:
    expr: Expr
    line: int
    src: str


@dataclass(frozen=True)
class If:
    cond: Expr
    then: tuple
    other: tuple
    line: int
    src: str


Stmt = Union[Decl, Assign, ExprStmt, If]


# --- the final condition ---------------------------------------------------------------

@dataclass(frozen=True)
class CondAtom:
    """``T:r = v`` (thread T's register r) or ``x = v`` (the final value of x);
    ``value`` is an int or a location name (its address); ``negated`` for ``!=``."""
    thread: Optional[int]
    name: str
    value: Union[int, str]
    negated: bool = False

    def text(self) -> str:
        left = f"{self.thread}:{self.name}" if self.thread is not None else self.name
        return f"{left}{'!=' if self.negated else '='}{self.value}"


@dataclass(frozen=True)
class CondNot:
    arg: "Cond"


@dataclass(frozen=True)
class CondAnd:
    args: tuple


@dataclass(frozen=True)
class CondOr:
    args: tuple


@dataclass(frozen=True)
class CondConst:
    value: bool


Cond = Union[CondAtom, CondNot, CondAnd, CondOr, CondConst]


def cond_text(c: Cond) -> str:
    """The condition back as text, herd's spelling."""
    if isinstance(c, CondAtom):
        return c.text()
    if isinstance(c, CondConst):
        return "true" if c.value else "false"
    if isinstance(c, CondNot):
        return "~" + _wrap(c.arg)
    sep = r" /\ " if isinstance(c, CondAnd) else r" \/ "
    return sep.join(_wrap(a) for a in c.args)


def _wrap(c: Cond) -> str:
    t = cond_text(c)
    return f"({t})" if isinstance(c, (CondAnd, CondOr)) else t


# --- the program -----------------------------------------------------------------------

@dataclass(frozen=True)
class Thread:
    index: int
    params: tuple        # ((ctype, name), ...)
    body: tuple          # statements
    line: int


@dataclass(frozen=True)
class Litmus:
    name: str
    doc: str                     # the header's comment text
    expected: Optional[str]      # "Never" / "Sometimes" / "Always" / "DEADLOCK"
    init: tuple                  # ((location, int | location-name), ...) in order
    threads: tuple
    quantifier: str              # "exists", "~exists" or "forall"
    condition: Cond
    show: tuple = ()             # ((thread or None, name), ...) from "locations"
    filter: Optional[Cond] = None   # "filter": executions outside it are discarded
    expected_race: bool = False  # the Result line says DATARACE
    source: str = field(default="", compare=False)

    def locations(self) -> list[str]:
        """Every shared location: the init block's (and the locations whose
        addresses it stores), then each thread's pointer parameters, in order of
        first appearance."""
        seen: list[str] = []
        for loc, value in self.init:
            for name in (loc, value):
                if isinstance(name, str) and name not in seen:
                    seen.append(name)
        for t in self.threads:
            for ctype, name in t.params:
                if name not in seen:
                    seen.append(name)
        return seen

    def condition_text(self) -> str:
        return f"{self.quantifier} ({cond_text(self.condition)})"


# --- lexing ----------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<num>0[xX][0-9a-fA-F]+[uUlL]*|[0-9]+[uUlL]*)
  | (?P<id>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>/\\|\\/|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||\+=|-=|\|=|&=|[-+*/%&|^~!?:=<>(){}\[\],;.])
""", re.X)

_TYPE_WORDS = {
    "int", "long", "unsigned", "signed", "short", "char", "bool", "_Bool", "void",
    "const", "volatile", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64",
    "__u8", "__u16", "__u32", "__u64", "__s8", "__s16", "__s32", "__s64",
    "size_t", "uintptr_t", "intptr_t", "spinlock_t", "raw_spinlock_t", "atomic_t",
    "atomic_long_t", "local_t", "atomic_int", "atomic_long", "atomic_uint",
    "atomic_ulong", "uint32_t", "uint64_t", "int32_t", "int64_t",
}

_UNSUPPORTED_WORDS = {
    "while": "loops are not supported: unroll the loop by hand (a litmus test "
             "has a fixed, small number of accesses)",
    "for": "loops are not supported: unroll the loop by hand",
    "do": "loops are not supported: unroll the loop by hand",
    "goto": "goto is not supported",
    "switch": "switch is not supported: write it as if/else",
    "return": "return is not supported: a thread runs to its end",
    "struct": "structs are not supported: name each field as its own location",
    "union": "unions (mixed-size accesses) are not supported: LKMM requires every "
             "access to be of the location's own size",
}


@dataclass
class _Tok:
    kind: str    # "num", "id", "op", "eof"
    text: str
    line: int


def _ocaml_end(text: str, i: int) -> int:
    """Index just past the herd (OCaml) comment opened at ``i``; they nest."""
    depth, j = 0, i
    while j < len(text):
        two = text[j:j + 2]
        if two == "(*":
            depth += 1
            j += 2
        elif two == "*)":
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    raise LitmusError("unterminated comment", text.count("\n", 0, i) + 1)


def _strip_comments(text: str, ocaml: bool) -> str:
    """Replace comments by spaces (newlines kept, so line numbers stay right).
    C comments always; herd's (* *) comments when ``ocaml``."""
    out = []
    i, n = 0, len(text)
    while i < n:
        two = text[i:i + 2]
        if two == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif two == "/*" or (ocaml and two == "(*"):
            if two == "(*":
                j = _ocaml_end(text, i)
            else:
                j = text.find("*/", i + 2)
                if j < 0:
                    raise LitmusError("unterminated comment", text.count("\n", 0, i) + 1)
                j += 2
            out.append("".join(c if c == "\n" else " " for c in text[i:j]))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _comments(text: str) -> str:
    """The text inside every comment of ``text`` (for the ``Result:`` line)."""
    out, i = [], 0
    while i < len(text):
        two = text[i:i + 2]
        if two == "(*":
            j = _ocaml_end(text, i)
            out.append(text[i + 2:j - 2])
            i = j
        elif two == "/*":
            j = text.find("*/", i + 2)
            j = len(text) if j < 0 else j
            out.append(text[i + 2:j])
            i = j + 2
        elif two == "//":
            j = text.find("\n", i)
            j = len(text) if j < 0 else j
            out.append(text[i + 2:j])
            i = j
        else:
            i += 1
    return "\n".join(out)


def _lex(text: str, base_line: int) -> list[_Tok]:
    toks = []
    pos, line = 0, base_line
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise LitmusError(f"unexpected character {text[pos]!r}", line)
        kind = m.lastgroup
        s = m.group()
        if kind != "ws":
            toks.append(_Tok(kind, s, line))
        line += s.count("\n")
        pos = m.end()
    toks.append(_Tok("eof", "", line))
    return toks


def _int(text: str) -> int:
    return int(text.rstrip("uUlL"), 0)


class _Parser:
    """Recursive descent over one token list (a thread body or the init block)."""

    def __init__(self, toks: list[_Tok], lines: list[str]):
        self.toks = toks
        self.i = 0
        self.lines = lines

    # helpers
    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def accept(self, text: str) -> bool:
        if self.peek().kind in ("op", "id") and self.peek().text == text:
            self.next()
            return True
        return False

    def expect(self, text: str) -> _Tok:
        t = self.next()
        if t.text != text:
            got = t.text or "end of input"
            raise LitmusError(f"expected {text!r}, found {got!r}", t.line)
        return t

    def src(self, line: int) -> str:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].strip()
        return ""

    def at_type(self) -> bool:
        t = self.peek()
        return t.kind == "id" and t.text in _TYPE_WORDS

    def ctype(self) -> str:
        words = []
        while self.at_type():
            words.append(self.next().text)
        stars = ""
        while self.accept("*"):
            stars += "*"
        return " ".join(words) + (" " + stars if stars else "")

    # statements
    def statements(self, until: str = "eof") -> tuple:
        out = []
        while not (self.peek().kind == "eof" if until == "eof" else self.peek().text == until):
            if self.peek().kind == "eof":
                raise LitmusError(f"expected {until!r} before the end", self.peek().line)
            out.extend(self.statement())
        return tuple(out)

    def statement(self) -> list:
        t = self.peek()
        if t.kind == "id" and t.text in _UNSUPPORTED_WORDS:
            raise LitmusError(_UNSUPPORTED_WORDS[t.text], t.line)
        if self.accept(";"):
            return []
        if self.accept("{"):
            body = self.statements("}")
            self.expect("}")
            return list(body)
        if t.kind == "id" and t.text == "if":
            self.next()
            self.expect("(")
            cond = self.expr()
            self.expect(")")
            then = self.statement()
            other: list = []
            if self.accept("else"):
                other = self.statement()
            return [If(cond, tuple(then), tuple(other), t.line, self.src(t.line))]
        if self.at_type():
            ctype = self.ctype()
            decls = []
            while True:
                extra = ""
                while self.accept("*"):
                    extra += "*"
                nt = self.next()
                if nt.kind != "id":
                    raise LitmusError(f"expected a variable name, found {nt.text!r}", nt.line)
                if self.peek().text == "[":
                    raise LitmusError(_UNSUPPORTED_WORDS["struct"].replace(
                        "structs", "arrays").replace("field", "element"), nt.line)
                init = self.expr() if self.accept("=") else None
                decls.append(Decl((ctype + " " + extra).strip(), nt.text, init, nt.line,
                                  self.src(nt.line)))
                if not self.accept(","):
                    break
            self.expect(";")
            return decls
        e = self.expr()
        if self.peek().text in ("=", "+=", "-=", "|=", "&="):
            op = self.next().text
            if not isinstance(e, (Name, Deref)):
                raise LitmusError("the left side of an assignment must be a register "
                                  "or *pointer", t.line)
            value = self.expr()
            if op != "=":
                value = Binary(op[0], e, value)
            self.expect(";")
            return [Assign(e, value, t.line, self.src(t.line))]
        if self.peek().text in ("++", "--"):
            op = self.next().text
            self.expect(";")
            return [Assign(e, Binary(op[0], e, Num(1)), t.line, self.src(t.line))]
        self.expect(";")
        return [ExprStmt(e, t.line, self.src(t.line))]

    # expressions (C precedence)
    _BINARY = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="),
               ("<", "<=", ">", ">="), ("<<", ">>"), ("+", "-"), ("*", "/", "%")]

    def expr(self) -> Expr:
        cond = self.binary(0)
        if self.accept("?"):
            a = self.expr()
            self.expect(":")
            b = self.expr()
            return Ternary(cond, a, b)
        return cond

    def binary(self, level: int) -> Expr:
        if level == len(self._BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek().kind == "op" and self.peek().text in self._BINARY[level]:
            op = self.next().text
            left = Binary(op, left, self.binary(level + 1))
        return left

    def unary(self) -> Expr:
        t = self.peek()
        if t.kind == "op" and t.text in ("-", "!", "~", "*", "&", "+"):
            self.next()
            if t.text == "*":
                return Deref(self.unary())
            if t.text == "&":
                n = self.next()
                if n.kind != "id":
                    raise LitmusError("& applies to a location name only", n.line)
                return AddrOf(n.text)
            arg = self.unary()
            if t.text == "+":
                return arg
            if t.text == "-" and isinstance(arg, Num):
                return Num(-arg.value)
            return Unary(t.text, arg)
        if t.kind == "op" and t.text == "(" and self.peek(1).kind == "id" and \
                self.peek(1).text in _TYPE_WORDS:
            self.next()          # a cast: ignored (values are integers)
            self.ctype()
            self.expect(")")
            return self.unary()
        return self.postfix()

    def postfix(self) -> Expr:
        t = self.next()
        if t.kind == "num":
            return Num(_int(t.text))
        if t.kind == "op" and t.text == "(":
            e = self.expr()
            self.expect(")")
            return e
        if t.kind == "id":
            if t.text in _UNSUPPORTED_WORDS:
                raise LitmusError(_UNSUPPORTED_WORDS[t.text], t.line)
            if self.accept("("):
                args = []
                if not self.accept(")"):
                    while True:
                        args.append(self.expr())
                        if self.accept(")"):
                            break
                        self.expect(",")
                return Call(t.text, tuple(args), t.line)
            if self.peek().text in ("[", "->", "."):
                raise LitmusError("arrays and struct members are not supported: name "
                                  "each element as its own location", t.line)
            return Name(t.text, t.line)
        raise LitmusError(f"unexpected {t.text or 'end of input'!r}", t.line)


# --- the whole file --------------------------------------------------------------------

_THREAD = re.compile(r"P(\d+)\s*\(")


def _match_brace(text: str, start: int) -> int:
    """Index just past the brace that closes the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise LitmusError("unbalanced braces", text.count("\n", 0, start) + 1)


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def parse(text: str) -> Litmus:
    """Parse one litmus program; raises :class:`LitmusError` naming the line."""
    if "\x00" in text:
        raise LitmusError("not a text file")
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise LitmusError("empty file")
    m = re.match(r"\s*(\S+)\s+(\S.*?)\s*$", lines[first])
    if not m or m.group(1) != "C":
        raise LitmusError("the first line must be `C NAME` (a C litmus test; other "
                          "architectures' litmus formats are not supported)", first + 1)
    name = m.group(2)
    head_start = sum(len(ln) + 1 for ln in lines[:first + 1])
    # The header: comments (herd's (* *) and C's) and maybe a doc string, up to "{".
    clean = _strip_comments(text, ocaml=False)
    # herd's (* *) comments only outside the thread bodies, where "(*" cannot be C
    brace = _skip(text, head_start, doc_string=True)
    if brace >= len(text):
        raise LitmusError("no initial-state block `{ ... }` after the name")
    if text[brace] != "{":
        word = text[brace:].split(None, 1)[0]
        raise LitmusError(f"unexpected {word!r} before the initial-state block",
                          _line_at(text, brace))
    header_raw = text[head_start:brace]
    doc = _comments(header_raw).strip()
    expected = None
    race = False
    rm = re.search(r"Result:[ \t]*(\w+)([^\n]*)", doc)
    if rm:
        if rm.group(1) not in RESULTS:
            raise LitmusError(f"Result: {rm.group(1)!r} is not one of "
                              f"{', '.join(RESULTS)}", _line_at(text, head_start))
        expected = rm.group(1)
        race = "DATARACE" in rm.group(2).split()
    end_init = _match_brace(clean, brace)
    init = _parse_init(clean[brace + 1:end_init - 1], _line_at(text, brace), lines)
    # Threads.
    pos = end_init
    threads = []
    while True:
        j = _skip(text, pos)
        tm = _THREAD.match(text, j)
        if not tm:
            break
        index = int(tm.group(1))
        if index != len(threads):
            raise LitmusError(f"threads must be P0, P1, ... in order; found P{index}",
                              _line_at(text, j))
        close = clean.find(")", tm.end())
        params = _parse_params(clean[tm.end():close], _line_at(text, tm.end()))
        body_open = clean.find("{", close)
        between = _strip_comments(text[close + 1:body_open], ocaml=True)
        if body_open < 0 or between.strip():
            raise LitmusError(f"P{index}: expected its body `{{ ... }}`",
                              _line_at(text, close))
        body_end = _match_brace(clean, body_open)
        toks = _lex(clean[body_open + 1:body_end - 1], _line_at(text, body_open))
        p = _Parser(toks, lines)
        body = p.statements()
        threads.append(Thread(index, params, body, _line_at(text, j)))
        pos = body_end
    if not threads:
        raise LitmusError("no thread `P0(...) { ... }` after the initial state",
                          _line_at(text, pos))
    tail = _strip_comments(text[pos:], ocaml=True)
    quant, cond, show, filt = _parse_tail(tail, _line_at(text, pos))
    lit = Litmus(name, doc, expected, init, tuple(threads), quant, cond, show, filt,
                 race, text)
    _check_names(lit)
    return lit


def _skip(text: str, pos: int, doc_string: bool = False) -> int:
    """Index of the first character at or after ``pos`` that is not blank, not a
    comment (C's or herd's) and, with ``doc_string``, not a herd doc string."""
    n = len(text)
    while pos < n:
        if text[pos].isspace():
            pos += 1
            continue
        two = text[pos:pos + 2]
        if two == "//":
            j = text.find("\n", pos)
            pos = n if j < 0 else j + 1
        elif two == "(*":
            pos = _ocaml_end(text, pos)
        elif two == "/*":
            j = text.find("*/", pos + 2)
            if j < 0:
                raise LitmusError("unterminated comment", _line_at(text, pos))
            pos = j + 2
        elif doc_string and text[pos] == '"':
            j = text.find('"', pos + 1)
            pos = n if j < 0 else j + 1
        else:
            return pos
    return pos


def _parse_params(text: str, line: int) -> tuple:
    params = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.match(r"^(.*?)([A-Za-z_][A-Za-z_0-9]*)$", part.replace("\n", " "))
        if not m or "*" not in m.group(1):
            raise LitmusError(f"parameter {part!r}: each parameter is a pointer to a "
                              "shared location (`int *x`)", line)
        params.append((" ".join(m.group(1).split()), m.group(2)))
    return tuple(params)


def _parse_init(text: str, line: int, lines: list[str]) -> tuple:
    out = []
    toks = _lex(text, line)
    p = _Parser(toks, lines)
    while p.peek().kind != "eof":
        if p.accept(";"):
            continue
        t = p.peek()
        if t.kind == "num":
            raise LitmusError("initial register values (T:r=v) are not supported; "
                              "registers start at 0", t.line)
        p.ctype()
        while p.accept("*"):
            pass
        nt = p.next()
        if nt.kind != "id":
            raise LitmusError(f"initial state: expected a location, found {nt.text!r}",
                              nt.line)
        if p.peek().text == ":":
            raise LitmusError("initial register values (T:r=v) are not supported; "
                              "registers start at 0", nt.line)
        if p.peek().text == "[":
            raise LitmusError("arrays are not supported: name each element as its own "
                              "location", nt.line)
        value: Union[int, str] = 0
        if p.accept("="):
            v = p.unary()
            if isinstance(v, Call) and v.func == "ATOMIC_INIT" and len(v.args) == 1 \
                    and isinstance(v.args[0], Num):
                v = v.args[0]
            if isinstance(v, Num):
                value = v.value
            elif isinstance(v, (Name, AddrOf)):
                value = v.name
            else:
                raise LitmusError("an initial value is an integer or a location",
                                  nt.line)
        out.append((nt.text, value))
        if not p.accept(";") and p.peek().kind != "eof":
            raise LitmusError("expected ';' in the initial state", p.peek().line)
    return tuple(out)


def _parse_tail(text: str, line: int) -> tuple:
    show: list = []
    toks = _lex(text, line)
    p = _Parser(toks, [])
    quant = None
    filt = None
    cond: Cond = CondConst(True)
    while p.peek().kind != "eof":
        t = p.next()
        if t.text == "locations":
            p.expect("[")
            while not p.accept("]"):
                if p.accept(";"):
                    continue
                show.append(_cond_ref(p))
            continue
        if t.text == "filter":
            if filt is not None:
                raise LitmusError("more than one filter", t.line)
            filt = _cond_or(p)
            continue
        if t.text in ("exists", "forall") or (t.text == "~" and p.peek().text == "exists"):
            if quant is not None:
                raise LitmusError("more than one final condition", t.line)
            if t.text == "~":
                p.next()
                quant = "~exists"
            else:
                quant = t.text
            cond = _cond_or(p)
            continue
        raise LitmusError(f"unexpected {t.text!r} after the threads (expected exists, "
                          "~exists, forall or locations)", t.line)
    if quant is None:
        raise LitmusError("no final condition (exists, ~exists or forall)", line)
    return quant, cond, tuple(show), filt


def _cond_ref(p: _Parser) -> tuple:
    t = p.next()
    if t.kind == "num":
        p.expect(":")
        r = p.next()
        return (int(t.text), r.text)
    if t.kind != "id":
        raise LitmusError(f"expected a location or T:register, found {t.text!r}", t.line)
    return (None, t.text)


def _cond_or(p: _Parser) -> Cond:
    args = [_cond_and(p)]
    while p.accept("\\/"):
        args.append(_cond_and(p))
    return args[0] if len(args) == 1 else CondOr(tuple(args))


def _cond_and(p: _Parser) -> Cond:
    args = [_cond_not(p)]
    while p.accept("/\\"):
        args.append(_cond_not(p))
    return args[0] if len(args) == 1 else CondAnd(tuple(args))


def _cond_not(p: _Parser) -> Cond:
    if p.accept("~") or p.accept("not"):
        return CondNot(_cond_not(p))
    if p.accept("("):
        c = _cond_or(p)
        p.expect(")")
        return c
    if p.accept("true"):
        return CondConst(True)
    if p.accept("false"):
        return CondConst(False)
    thread, name = _cond_ref(p)
    t = p.next()
    if t.text not in ("=", "==", "!="):
        raise LitmusError(f"expected = after {name}, found {t.text!r}", t.line)
    v = p.unary()
    if isinstance(v, Num):
        value: Union[int, str] = v.value
    elif isinstance(v, (Name, AddrOf)):
        value = v.name
    else:
        raise LitmusError("a condition compares with an integer or a location", t.line)
    return CondAtom(thread, name, value, t.text == "!=")


def _check_names(lit: Litmus) -> None:
    locs = set(lit.locations())
    for t in lit.threads:
        seen = set()
        for _, n in t.params:
            if n in seen:
                raise LitmusError(f"P{t.index}: parameter {n} twice", t.line)
            seen.add(n)

    def atoms(c):
        if isinstance(c, CondAtom):
            yield c
        elif isinstance(c, CondNot):
            yield from atoms(c.arg)
        elif isinstance(c, (CondAnd, CondOr)):
            for a in c.args:
                yield from atoms(a)
    conds = [lit.condition] + ([lit.filter] if lit.filter is not None else [])
    for a in (x for c in conds for x in atoms(c)):
        if a.thread is None and a.name not in locs:
            raise LitmusError(f"the condition names {a.name}, which is not a location")
        if a.thread is not None and a.thread >= len(lit.threads):
            raise LitmusError(f"the condition names thread {a.thread}, which does not "
                              "exist")
        if isinstance(a.value, str) and a.value not in locs:
            raise LitmusError(f"the condition compares with {a.value}, which is not a "
                              "location")
    for th, n in lit.show:
        if th is None and n not in locs:
            raise LitmusError(f"locations names {n}, which is not a location")
