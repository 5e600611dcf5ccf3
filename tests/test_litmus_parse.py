"""The litmus text format (rbmap.checker.litmus): what parses, and what is refused
with the line and the reason."""

import pytest

from rbmap.checker.litmus import (CondAnd, CondAtom, CondOr, Deref, If, LitmusError,
                                  parse)

BASE = """C demo

(*
 * Result: Sometimes
 *
 * A comment that mentions (*nested-looking*) text.
 *)

{ x=1; int *p=&y; }

P0(int *x, int **p) // a C comment
{
	int r0 = READ_ONCE(*x);   /* and a block one */
	if (r0 == 1) {
		WRITE_ONCE(*x, 2);
	} else
		smp_mb();
	*x = r0 + 1;
}

P1(int *y)
{
	int r1;
	r1 = smp_load_acquire(y);
}

locations [x; 0:r0]
exists (0:r0=1 /\\ x=2 \\/ ~1:r1=0)
"""


def test_the_kernel_shape_parses():
    lit = parse(BASE)
    assert lit.name == "demo" and lit.expected == "Sometimes"
    assert lit.init == (("x", 1), ("p", "y"))
    assert lit.locations() == ["x", "p", "y"]
    assert [t.params for t in lit.threads] == [(("int *", "x"), ("int **", "p")),
                                               (("int *", "y"),)]
    body = lit.threads[0].body
    assert isinstance(body[1], If) and body[1].line == 14
    assert isinstance(body[2].target, Deref)
    assert lit.show == ((None, "x"), (0, "r0"))
    assert lit.quantifier == "exists"
    c = lit.condition
    assert isinstance(c, CondOr) and isinstance(c.args[0], CondAnd)
    assert c.args[0].args[0] == CondAtom(0, "r0", 1)
    assert lit.condition_text() == r"exists ((0:r0=1 /\ x=2) \/ ~1:r1=0)"


def test_result_line_variants():
    assert parse(BASE.replace("Sometimes", "Never DATARACE")).expected_race
    assert parse(BASE.replace("Sometimes", "DEADLOCK")).expected == "DEADLOCK"
    assert parse(BASE.replace(" * Result: Sometimes\n", "")).expected is None
    with pytest.raises(LitmusError, match="Result: 'Maybe'"):
        parse(BASE.replace("Sometimes", "Maybe"))


def test_filter_and_atomic_init():
    lit = parse(BASE.replace("{ x=1;", "{ atomic_t x = ATOMIC_INIT(3);")
                .replace("locations [x; 0:r0]", "filter (0:r0=3)"))
    assert lit.init[0] == ("x", 3)
    assert lit.filter == CondAtom(0, "r0", 3)


@pytest.mark.parametrize("old,new,line,reason", [
    ("C demo", "X86 demo", 1, "first line must be `C NAME`"),
    ("\tint r1;\n", "\twhile (1) { }\n", 23, "loops are not supported"),
    ("\tint r1;\n", "\tint r1[2];\n", 23, "arrays are not supported"),
    ("\tint r1;\n", "\tint r1 = p->f;\n", 23, "struct members are not supported"),
    ("\tint r1;\n", "\tstruct s t;\n", 23, "structs are not supported"),
    ("\tint r1;\n", "\tint r1 = 1\n", 24, "expected ';'"),
    ("P1(int *y)", "P2(int *y)", 21, "threads must be P0, P1"),
    ("P1(int *y)", "P1(int y)", 21, "each parameter is a pointer"),
    ("exists (0:r0=1", "exists (0:r0=1 /\\ z=1", 0, "z, which is not a location"),
    ("exists (0:r0=1", "exists (5:r0=1", 0, "thread 5, which does not exist"),
    ("exists", "maybe", 28, "unexpected 'maybe'"),
    ("{ x=1;", "{ 0:r0=1;", 9, "initial register values"),
    (" *)\n\n{", "\n\n{", 3, "unterminated comment"),
])
def test_refused_with_line_and_reason(old, new, line, reason):
    assert old in BASE
    with pytest.raises(LitmusError) as exc:
        parse(BASE.replace(old, new, 1))
    assert reason in str(exc.value)
    if line:
        assert exc.value.line == line, str(exc.value)


def test_no_condition_and_empty_and_binary():
    with pytest.raises(LitmusError, match="no final condition"):
        parse(BASE.split("locations")[0])
    with pytest.raises(LitmusError, match="empty file"):
        parse("\n\n")
    with pytest.raises(LitmusError, match="not a text file"):
        parse("C x\x00")
