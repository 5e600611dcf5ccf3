"""The cross-tool benchmark model: a single-producer / single-consumer ring.

Not the kernel's ring buffer: a small model written once for every explorer
(rbmap's engines, SPIN, a plain Python BFS) so that they can be timed on the
same work in the same run (``rbmap bench --vs-spin``). ``N`` slots, a writer
and a reader, every step one atomic action; ``V`` is the tag modulus, ``D`` the
number of payload values. With ``bug`` the writer publishes ``head`` before it
fills the slot, which breaks the invariant (shortest counterexample: 13 steps).

Reachable states (every tool agrees, state for state): N V D = 2 2 2: 1,500;
3 4 2: 14,748; 2 3 3: 13,361; 3 4 4: 206,326; 4 5 3: 1,017,752.

    writer: produce(p)  pick a payload p in 0..D-1            (local only)
            read_tail   snapshot tail into wt                  (reads global)
            write       if (head - wt) mod 2N < N: buf[head % N] = tag * D + p
            full        otherwise go back and re-read tail
            publish     head += 1 (mod 2N), tag += 1 (mod V)
    reader: read_head   snapshot head into rh
            empty       rh == tail: start over
            read_slot   copy buf[tail % N] into (rv, rp)
            consume     local-only step that drops the payload
            publish     tail += 1 (mod 2N), expected += 1 (mod V)

Dead locals are reset to 0 so that SPIN's dead-variable reduction has nothing
to do and all tools count the same states.
"""

from __future__ import annotations

from .properties import always
from .steps import StepMachine, require, step

__all__ = ["Ring", "KNOWN_STATES"]

#: (N, V, D) -> reachable states of the correct ring
KNOWN_STATES = {(2, 2, 2): 1500, (3, 4, 2): 14748, (2, 3, 3): 13361, (3, 4, 4): 206326,
                (4, 5, 3): 1017752}

W_IDLE, W_TAIL, W_FILL, W_PUBLISH = range(4)       # writer pc
R_IDLE, R_HEAD, R_READ, R_DONE = range(4)          # reader pc


# ---- the writer --------------------------------------------------------------
@step("writer")
def produce(m, s, p):
    """The writer picks the payload of its next item (local only)."""
    require(s.wpc == W_IDLE)
    s.wp = p
    s.wpc = W_TAIL


@step("writer")
def read_tail(m, s):
    """The writer loads the reader's tail (its only read of the reader's index)."""
    require(s.wpc == W_TAIL)
    s.wt = s.tail
    s.wpc = W_FILL


@step("writer")
def write(m, s):
    """There is room (head is less than N ahead of the loaded tail): fill the
    slot at head with tag * D + payload."""
    require(s.wpc == W_FILL)
    require((s.head - s.wt) % m.M < m.N)
    s.buf[s.head % m.N] = s.wv * m.D + s.wp
    s.wt = 0
    s.wpc = W_PUBLISH


@step("writer")
def full(m, s):
    """The ring is full as far as the writer knows: load tail again."""
    require(s.wpc == W_FILL)
    require((s.head - s.wt) % m.M >= m.N)
    s.wt = 0
    s.wpc = W_TAIL


@step("writer")
def publish(m, s):
    """The writer publishes the filled slot: head moves on, the tag too."""
    require(s.wpc == W_PUBLISH)
    s.head = (s.head + 1) % m.M
    s.wv = (s.wv + 1) % m.V
    s.wp = 0
    s.wpc = W_IDLE


@step("writer")
def publish_early(m, s):
    """The bug: head moves on before the slot is filled (the slot's index is
    kept in wt for write_late)."""
    require(s.wpc == W_FILL)
    require((s.head - s.wt) % m.M < m.N)
    s.wt = s.head
    s.head = (s.head + 1) % m.M
    s.wpc = W_PUBLISH


@step("writer")
def write_late(m, s):
    """The bug's second half: fill the slot head named before it moved."""
    require(s.wpc == W_PUBLISH)
    s.buf[s.wt % m.N] = s.wv * m.D + s.wp
    s.wt = 0
    s.wv = (s.wv + 1) % m.V
    s.wp = 0
    s.wpc = W_IDLE


# ---- the reader --------------------------------------------------------------
@step("reader")
def read_head(m, s):
    """The reader loads the writer's head."""
    require(s.rpc == R_IDLE)
    s.rh = s.head
    s.rpc = R_HEAD


@step("reader")
def empty(m, s):
    """Nothing to read (the loaded head is the tail): start over."""
    require(s.rpc == R_HEAD)
    require(s.rh == s.tail)
    s.rh = 0
    s.rpc = R_IDLE


@step("reader")
def read_slot(m, s):
    """Copy the slot at tail: its tag and payload."""
    require(s.rpc == R_HEAD)
    require(s.rh != s.tail)
    s.rv = s.buf[s.tail % m.N] // m.D
    s.rp = s.buf[s.tail % m.N] % m.D
    s.rh = 0
    s.rpc = R_READ


@step("reader")
def consume(m, s):
    """The reader uses the payload (local only)."""
    require(s.rpc == R_READ)
    s.rp = 0
    s.rpc = R_DONE


@step("reader", name="publish")
def release(m, s):
    """The reader frees the slot: tail moves on, the expected tag too."""
    require(s.rpc == R_DONE)
    s.tail = (s.tail + 1) % m.M
    s.re = (s.re + 1) % m.V
    s.rv = 0
    s.rpc = R_IDLE


# ---- the machine -------------------------------------------------------------
@always("fifo")
def fifo(m, s):
    """A slot the reader has just copied carries the tag it expects (in order,
    neither torn nor overwritten)."""
    return s.rpc != R_READ or s.rv == s.re


class Ring(StepMachine):
    """The ring of ``N`` slots with tag modulus ``V`` and ``D`` payloads."""

    name = "ring"

    def __init__(self, N: int = 3, V: int = 4, D: int = 2, bug: bool = False):
        for what, v in (("N", N), ("V", V), ("D", D)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"ring: {what} must be a positive integer, got {v!r}")
        self.N, self.V, self.D, self.bug = N, V, D, bool(bug)
        self.M = 2 * N
        super().__init__()

    def declare(self, st) -> None:
        N, V, D, M = self.N, self.V, self.D, self.M
        st.array("buf", N, V * D, doc="the slots: tag * D + payload")
        st.slot("head", M, doc="the writer's index (mod 2N)")
        st.slot("tail", M, doc="the reader's index (mod 2N)")
        st.slot("wpc", 4, doc="where the writer is")
        st.slot("wt", M, doc="the writer's copy of tail (the slot, with bug)")
        st.slot("wv", V, doc="the writer's next tag")
        st.slot("wp", D, doc="the writer's payload")
        st.slot("rpc", 4, doc="where the reader is")
        st.slot("rh", M, doc="the reader's copy of head")
        st.slot("rv", V, doc="the tag the reader read")
        st.slot("rp", D, doc="the payload the reader read")
        st.slot("re", V, doc="the tag the reader expects")

    def steps(self):
        out = [self.bind(produce, p) for p in range(self.D)]
        out.append(read_tail)
        if self.bug:
            out += [publish_early, full, write_late]
        else:
            out += [write, full, publish]
        out += [read_head, empty, read_slot, consume, release]
        return out

    def property_list(self):
        return [fifo]

    @property
    def label(self) -> str:
        return f"ring N={self.N} V={self.V} D={self.D}" + (" bug" if self.bug else "")
