"""The catalogue of protocol rules a design variant chooses from.

A variant (a ``specs/*.toml`` file, table ``[model]``) picks one value for each rule
below. Each value is a piece of code in :mod:`rbmap.model.protocol`; the docstring of
the rule says which kernel function it abstracts. A new design is usually a new file
choosing different values; a genuinely new rule is a new entry here plus its branch in
``protocol.py``.

Rules whose value is marked *(broken)* exist to give the properties teeth: each is a
small, realistic bug that one property must catch (see tests/test_model_teeth.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SpecError


@dataclass(frozen=True)
class Rule:
    name: str
    doc: str
    values: dict[str, str]  # value -> what it means
    default: str


RULES: dict[str, Rule] = {}


def _rule(name: str, default: str, doc: str, **values: str) -> None:
    RULES[name] = Rule(name, doc, {k.replace("__", "-"): v for k, v in values.items()},
                       default)


_rule(
    "meta_fields", "upstream",
    "Which fields the meta page has (the model keeps only the ones that exist).",
    v2="seed header: entries, overrun, pages_touched, reader_page, data_page_head and "
       "data_pages[] (ring_buffer_meta_page_header)",
    v3="v3: entries, overrun, reader_page and the reader page's read offset",
    upstream="struct trace_buffer_meta: reader.{id,read,lost_events}, entries, "
             "overrun, read",
)
_rule(
    "writer_meta", "none",
    "What the writer fast path writes into the meta page.",
    none="nothing: the meta page is a snapshot refreshed by the ioctl, map and reset "
         "(rb_update_meta_page, Linux 6.10)",
    v2_fastpath="the seed: rb_commit stores cpu_buffer->entries, rb_handle_head_page "
                "stores overrun, rb_tail_page_update stores pages_touched, each a "
                "load then a store an interrupt can split",
)
_rule(
    "get_reader", "consume_to_commit",
    "What the get-reader ioctl does under reader_lock.",
    v2_swap="the seed's ring_buffer_get_reader_page: reader_page->read = page size, "
            "then swap with the head page if the buffer is not empty",
    consume_to_commit="v3-read / Linux 6.10 ring_buffer_map_get_reader: keep the reader "
                      "page while it has unread data, else swap (rb_get_reader_page); "
                      "then consume it up to its commit (rb_advance_reader)",
    read_param="v3-read-param: the ioctl takes the amount the user read; the kernel "
               "consumes only that, swapping when it covers the whole page",
    no_meta_refresh="(broken) consume_to_commit, but the meta page's reader fields "
                    "are not refreshed afterwards",
)
_rule(
    "meta_reader_update", "snapshot",
    "When the meta page's reader page ID changes.",
    in_swap="the seed: rb_meta_page_head_swap inside rb_get_reader_page, whatever "
            "path swapped (ioctl or a trace_pipe_raw read)",
    snapshot="only when rb_update_meta_page runs: map, ioctl, reset (Linux 6.10)",
)
_rule(
    "update_meta_ioctl", "absent",
    "The seed's second ioctl (ring_buffer_update_meta_page).",
    absent="no such ioctl",
    present="rb_set_head_page: move data_page_head by how far the writer pushed the head",
)
_rule(
    "reader_start", "reader_read",
    "Where a process that has just mapped starts reading the reader page.",
    page_start="offset 0 (the seed exposes no read offset)",
    reader_read="meta reader.read: what earlier consumers already consumed",
)
_rule(
    "ids", "first_map",
    "How page IDs are assigned (rb_setup_ids_meta_page).",
    first_map="at each first map: reader page 0, head page 1, then ring order",
    skip_reader="(broken) the reader page gets no ID of its own (shares ID 1)",
)
_rule(
    "read_page_mapped", "copy",
    "ring_buffer_read_page (a trace_pipe_raw read) while the buffer is mapped.",
    copy="copy events out, no page leaves the ring",
    swap="(broken) swap the reader page out as when unmapped",
)
_rule(
    "resize_mapped", "ebusy",
    "ring_buffer_resize while mapped.",
    ebusy="-EBUSY (resize_disabled)",
    allow="(broken) the resize goes ahead",
)
_rule(
    "swap_cpu_mapped", "ebusy",
    "ring_buffer_swap_cpu while mapped.",
    ebusy="-EBUSY",
    allow="(broken) the swap goes ahead",
)
_rule(
    "unmap_unmapped", "enodev",
    "ring_buffer_unmap when the buffer is not mapped.",
    enodev="-ENODEV, nothing changes",
    decrement="(broken) decrements mapped anyway",
)
_rule(
    "vma_open", "counts",
    "What the VMA open callback does for a copy made at fork after MADV_DOFORK.",
    counts="counts it as one more user mapping: ring_buffer_map_dup (user_mapped++, "
           "mapped++) and tr->mapped++ (the seed: ring_buffer_map)",
    map_dup="Linux 6.12.117: tracing_buffers_mmap_open calls ring_buffer_map_dup, "
            "but tr->mapped is not incremented while the copy's close runs "
            "put_snapshot_map: tr->mapped drops to 0 under a live mapping and the "
            "last close hits WARN_ON(!tr->mapped)",
    ignores="no open callback: the copy is not counted at all; closing both "
            "copies unmaps once too often",
)
_rule(
    "map_error", "undo",
    "tracing_buffers_mmap when __rb_map_vma refuses the range (-EINVAL).",
    undo="ring_buffer_map frees subbuf_ids and the meta page and drops "
         "resize_disabled; tracing_buffers_mmap drops tr->mapped (put_snapshot_map)",
    keep_resize_disabled="(broken) the first map's error path keeps "
                         "resize_disabled",
    keep_tr_mapped="(broken) tracing_buffers_mmap's error path forgets "
                   "put_snapshot_map",
)
_rule(
    "data_index", "none",
    "A per-page writer counter for non-consuming readers (thread, 29 Mar 2023: "
    "struct trace_map_data_index {idx, cnt}).",
    none="no counter: a non-consuming reader cannot tell a page was overwritten",
    writer_cnt="rb_tail_page_update increments data_index[next_page->id].cnt; the "
               "reader compares it before and after reading a page and drops the page "
               "when it changed",
)
_rule(
    "nc_check", "none",
    "How the seed's non-consuming reader checks a page it read in place (the second "
    "proposal of the thread, Vincent Donnefort, 30 Mar 2023: \"Couldn't the reader "
    "just check for the page commit field? rb_iter_head_event() does something like "
    "this\").",
    none="no check: the reader keeps what it copied",
    commit="the page's commit field: loaded before the copy, re-loaded after it; a "
           "commit below what the reader used means the writer reset the page",
    commit_stamp="rb_iter_head_event's check: the page's commit field and its "
                 "time_stamp (set by the writer's first reserve on the page) are "
                 "both unchanged after the copy; assumes each refill of a page gets "
                 "a new time stamp (a nanosecond trace clock)",
)
_rule(
    "reset_data_pages", "keep",
    "What rb_reset_cpu does to the seed's data_pages[] while mapped (it puts the "
    "head page back at cpu_buffer->pages).",
    keep="the seed: nothing; data_page_head still names the old head's slot, and "
         "the next swap's rb_meta_page_head_swap writes the wrong slot",
    relist="a fix (not in the thread): list the ring's IDs again from the new head, "
           "data_page_head = 0",
)
_rule(
    "commit_page_loss", "tail_warns",
    "ring_buffer_map_get_reader after a swap that lost events when the new reader "
    "page is the commit page (the loss cannot be written into a page the writer "
    "still fills).",
    tail_warns="Linux 6.12.117 (since 6.12.34): WARN_ONCE(\"Reader on commit with "
               "%ld missed events\") if the reader page is also the tail page, "
               "else pr_info(\"Ring buffer [%d] commit overrun lost %ld events "
               "...\"); user space is told nothing",
    warns="Linux 6.10: WARN_ON_ONCE(missed_events)",
)
_rule(
    "swap_lost_events", "if_moved",
    "What rb_get_reader_page does to cpu_buffer->lost_events when it swaps in a page.",
    if_moved="if overrun moved since last_overrun: lost_events = overrun - "
             "last_overrun; else lost_events keeps whatever it held (Linux 6.10-6.12)",
    always="(a proposal) every swap sets lost_events = overrun - last_overrun, 0 "
           "when nothing was lost: a count left by a consumer that peeked and did "
           "not consume cannot reach the next page",
)
_rule(
    "meta_lost_events", "counter",
    "What rb_update_meta_page writes into meta->reader.lost_events.",
    counter="cpu_buffer->lost_events (Linux 6.10-6.12): GET_READER clears it after "
            "its swap, so it reads 0 after every ioctl that swapped",
    at_swap="(a proposal) the number of events lost at the swap that brought in "
            "the current reader page, what the uapi comment says",
)
_rule(
    "meta_update", "all",
    "Which fields rb_update_meta_page writes (map, GET_READER, reset).",
    all="reader.{read,id,lost_events}, entries, overrun, read",
    no_entries="(broken) leaves entries as it was",
    no_overrun="(broken) leaves overrun as it was",
    no_read="(broken) leaves read as it was",
    no_reader_id="(broken) leaves reader.id as it was",
    no_reader_read="(broken) leaves reader.read as it was",
)
_rule(
    "map_fault", "exact",
    "Page-offset translation of a mapping (ring_buffer_map_fault / the insert loop).",
    exact="pgoff < meta pages -> meta; else subbuf_ids[pgoff - meta pages] when that "
          "index is <= nr_pages; anything else refused",
    off_by_one="(broken) the bound check lets index nr_pages + 1 through",
)


def validate_rules(values: dict, where: tuple = ("model",)) -> dict[str, str]:
    """Check a ``[model]`` table's rule choices; fill in defaults; return a new dict."""
    out = {}
    for key, val in values.items():
        if key not in RULES:
            raise SpecError(f"unknown rule {key!r} (known: {', '.join(sorted(RULES))})",
                            where + (key,))
        if not isinstance(val, str) or val not in RULES[key].values:
            raise SpecError(
                f"rule {key!r} has no value {val!r} "
                f"(choose one of: {', '.join(RULES[key].values)})", where + (key,))
        out[key] = val
    for name, rule in RULES.items():
        out.setdefault(name, rule.default)
    return out


@dataclass(frozen=True)
class Variant:
    """A design variant as the model needs it: a name and its rule choices."""

    name: str
    rules: tuple  # sorted (rule, value) pairs, hashable
    description: str = ""
    history: str = ""
    source: str = ""  # file it came from
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def rule(self, name: str) -> str:
        return dict(self.rules)[name]

    def with_rules(self, **overrides: str) -> "Variant":
        merged = dict(self.rules)
        merged.update(overrides)
        checked = validate_rules(merged)
        suffix = ",".join(f"{k}={v}" for k, v in sorted(overrides.items()))
        return Variant(f"{self.name}[{suffix}]" if suffix else self.name,
                       tuple(sorted(checked.items())), self.description, self.history,
                       self.source, self.extra)
