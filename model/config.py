"""The constants of one model run (TLA+'s CONSTANTS), validated."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .errors import SpecError

CONSUMERS = ("sequential", "concurrent")
CLIENTS = ("documented", "greedy", "libtracefs")
GRANULARITIES = ("coarse", "fine")


@dataclass(frozen=True)
class Config:
    """Sizes and assumptions of one exploration.

    Sizes: ``pages`` ring pages (``nr_pages``; the reader page is one more),
    ``page_events`` events per page (every event has the same size), ``events`` the
    number of events the writer attempts in total, ``processes`` user-space processes,
    ``nesting`` how deep writers nest (1 = no interrupt writes).

    Assumptions, each a switch so a verdict can be reported both ways:
    ``consumers``: "sequential" = one consumer at a time (a process maps only when no
    other holds a mapping; trace_pipe_raw is read only while nothing is mapped);
    "concurrent" = they may overlap (they then compete for the reader page: the
    kernel allows it). ``client``: "documented" = reads only up to the meta page's
    reader.read (as impl/userlib.py does); "greedy" = reads up to the live commit;
    "libtracefs" = what libtracefs 1.8.3's tracefs_cpu_read_buf does, load by load
    (see ``RingBufferModel._libtracefs_steps``; the upstream ABI only). ``crash``: a
    process may exit or unmap mid-protocol (with events consumed by its ioctl still unread).
    ``reader_stays``: the last live process never exits (needed for the liveness
    property: somebody keeps reading).

    ``padding``: when the writer leaves a page it pads the rest of it (rb_reset_tail),
    as it does whenever events do not fill a page exactly; the padding is one more
    unit of the page's write/commit, never an event.

    ``granularity``: "fine" = the steps where impl lets other tasks in (what
    ``rbmap conform`` checks): the outermost rb_end_commit's load of
    cpu_buffer->commits, each page of rb_set_commit_to_write's walk (its
    commit store, then the move of commit_page), the tail
    page's load and store of its write index and the final check (in rb_commit and
    in rb_move_tail alike); GET_READER's closing rb_update_meta_page; the seed's
    loads of ``mapped`` after entries++ and after the tail move, and its last unmap
    setting mapped = 0 before synchronize_rcu. "coarse" (the default, several
    times fewer states) = each of those is part of one step: an assumption,
    reported both ways like the others (the manifest records verdicts at both).

    ``pipe_reads``: reads of trace_pipe_raw (ring_buffer_read_page, a page each);
    ``text_reads``: reads of the text trace_pipe (tracing_read_pipe: peek, format,
    consume line by line, and stop without consuming a line that does not fit);
    with ``consumers`` "sequential" both run only while nothing is mapped and
    never during the other's read.

    ``order_change``: root writes buffer_subbuf_size_kb while nothing maps the
    buffer (ring_buffer_subbuf_order_set goes ahead): every page, the reader page
    too, is replaced by an empty one and ``entries``, ``overrun``, ``read`` stay
    as they were (README finding K1). The model's page holds ``page_events``
    events whatever the order: the step is an order change and the change back.
    Off by default (the counts of every recorded config stay); upstream ABI only.

    ``refusals``: root's calls that a mapping (or a snapshot user) refuses are
    tried in every state: resize, sub-buffer order change, snapshot (whole buffer
    and per CPU), snapshot trigger, GET_READER on an unmapped buffer, mmap while a
    snapshot user exists and an mmap __rb_map_vma refuses (failure atomicity).

    ``nc_readers`` (0 or 1): a non-consuming reader process (the seed's
    ``data_pages[]`` + update ioctl), which reads the ring in place without
    consuming; only for variants with ``data_pages[]``.
    """

    pages: int = 3
    page_events: int = 2
    events: int = 8
    processes: int = 2
    nesting: int = 2
    overwrite: bool = True
    consumers: str = "sequential"
    client: str = "documented"
    crash: bool = False
    reader_stays: bool = True
    pipe_reads: int = 0
    text_reads: int = 0
    resets: int = 0
    fork: bool = False
    nc_readers: int = 0
    padding: bool = True
    kernel_ops: bool = True
    refusals: bool = False
    order_change: bool = False
    granularity: str = "coarse"

    def __post_init__(self) -> None:
        def bad(msg: str, key: str) -> None:
            raise SpecError(msg, ("config", key))

        for f in fields(self):
            value, kind = getattr(self, f.name), type(f.default)
            if kind is bool and not isinstance(value, bool):
                bad(f"{f.name} must be true or false, not {value!r}", f.name)
            if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
                bad(f"{f.name} must be an integer, not {value!r}", f.name)
            if kind is str and not isinstance(value, str):
                bad(f"{f.name} must be a string, not {value!r}", f.name)

        if not 2 <= self.pages <= 8:
            bad(f"--pages {self.pages}: the kernel needs at least 2 ring pages and "
                "the model handles at most 8", "pages")
        if not 1 <= self.page_events <= 8:
            bad(f"--page-events {self.page_events}: must be 1..8", "page_events")
        if not 1 <= self.events <= 40:
            bad(f"--events {self.events}: must be 1..40", "events")
        if not 1 <= self.processes <= 4:
            bad(f"--processes {self.processes}: must be 1..4", "processes")
        if not 1 <= self.nesting <= 4:
            bad(f"--nesting {self.nesting}: must be 1..4 (1 = no interrupt writers)",
                "nesting")
        if self.consumers not in CONSUMERS:
            bad(f"--consumers {self.consumers!r}: one of {', '.join(CONSUMERS)}",
                "consumers")
        if self.granularity not in GRANULARITIES:
            bad(f"--granularity {self.granularity!r}: one of "
                f"{', '.join(GRANULARITIES)}", "granularity")
        if self.client not in CLIENTS:
            bad(f"--client {self.client!r}: one of {', '.join(CLIENTS)}", "client")
        if not 0 <= self.pipe_reads <= 4:
            bad(f"--pipe-reads {self.pipe_reads}: must be 0..4", "pipe_reads")
        if not 0 <= self.text_reads <= 4:
            bad(f"--text-reads {self.text_reads}: must be 0..4", "text_reads")
        if not 0 <= self.nc_readers <= 1:
            bad(f"--nc-readers {self.nc_readers}: must be 0 or 1", "nc_readers")
        if not 0 <= self.resets <= 3:
            bad(f"--resets {self.resets}: must be 0..3", "resets")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def unbounded(cls, **kw) -> "Config":
        """A config whose sizes are not limited to what an exhaustive exploration
        handles (hundreds of events, pages of any size): for running a scenario
        step by step, where nothing is enumerated. Only the sizes' lower bounds
        are checked."""
        c = object.__new__(cls)
        for f in fields(cls):
            object.__setattr__(c, f.name, kw.pop(f.name, f.default))
        if kw:
            raise SpecError(f"unknown config keys: {', '.join(sorted(kw))}",
                            ("config",))
        if c.pages < 2 or c.page_events < 1 or c.events < 1:
            raise SpecError("a ring of at least 2 pages of at least one event",
                            ("config", "pages"))
        return c

    def assumptions(self) -> list[dict]:
        """Each assumption of :data:`ASSUMPTIONS` with this config's value: ``key``,
        ``text`` (what is assumed), ``value``, ``in_force`` (the value is the one
        under which it holds) and ``option`` (the command-line words that give this
        value: ``--consumers concurrent``, ``--crash``)."""
        out = []
        for a in ASSUMPTIONS:
            value = getattr(self, a.key)
            out.append({"key": a.key, "text": a.text, "value": value,
                        "in_force": value == a.holds, "option": option_words(a.key, value)})
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SpecError(f"unknown config keys: {', '.join(sorted(unknown))}",
                            ("config",))
        return cls(**d)


@dataclass(frozen=True)
class Assumption:
    """A config key that is an assumption: under ``holds`` it is in force; the
    values in ``drops`` drop it. Steps that exist only because it is dropped say
    so (``RingBufferModel.step_assumptions``), so a trace can mark them."""

    key: str
    holds: object
    text: str
    drops: tuple = ()

    @property
    def dropped_values(self) -> tuple:
        return self.drops or ((not self.holds,) if isinstance(self.holds, bool) else ())


#: the assumptions, in the order reports list them (a new assumption is a Config
#: field, an entry here, and a note at each step it enables: see
#: RingBufferModel.step_assumptions)
ASSUMPTIONS = (
    Assumption("consumers", "sequential",
               "one consumer at a time (a process maps only while no other holds a "
               "mapping; trace_pipe_raw and trace_pipe are read only while nothing "
               "is mapped)",
               tuple(c for c in CONSUMERS if c != "sequential")),
    Assumption("client", "documented",
               "the client reads only up to the meta page's reader.read",
               tuple(c for c in CLIENTS if c != "documented")),
    Assumption("crash", False,
               "no process exits or unmaps in the middle of the protocol"),
    Assumption("reader_stays", True, "the last live process never exits"),
    Assumption("fork", False, "no process forks a copy of its mapping (MADV_DOFORK)"),
    Assumption("granularity", "coarse",
               "the writer's publish, GET_READER's meta refresh and the seed's loads "
               "of mapped are one step each",
               tuple(g for g in GRANULARITIES if g != "coarse")),
)
ASSUMPTION_KEYS = tuple(a.key for a in ASSUMPTIONS)
#: the other Config keys: sizes, and what the workload does (every field of
#: Config is in exactly one of the three groups: tests/test_evidence_model.py)
SIZE_KEYS = ("pages", "page_events", "events", "processes", "nesting")
WORKLOAD_KEYS = ("overwrite", "pipe_reads", "text_reads", "resets", "nc_readers",
                 "padding", "kernel_ops", "refusals", "order_change")


def option_words(key: str, value) -> str:
    """The command-line words that set config ``key`` to ``value``."""
    flag = key.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    return f"--{flag} {value}"
