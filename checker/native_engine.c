/* The explorer of rbmap's compiled engine (rbmap.checker.native).
 *
 * Generic: it knows a state only as RB_W 64-bit words. The code generated from
 * a model (native.py) defines RB_W, RB_NALWAYS, RB_NSOME, RB_NEVENT (each at
 * least 1), includes this file, then defines the functions declared under
 * "provided by the generated code".
 *
 * Breadth-first search with the numbering of the interpreted explorer
 * (rbmap.checker.bfs): ids are the discovery order, the states array in id
 * order is the queue, and a state's parent is the state that discovered it
 * first. So both engines give the same ids, depths, verdicts and shortest paths.
 *
 * Visited set, exact: open-addressing tables of 64-bit entries
 * (hash tag << 32 | id + 1) over the packed states, at most 70 % full. Per
 * state: 8 * RB_W bytes of state, 4 of parent id, 8 / load of table.
 *
 * Parallel search (nthreads > 1): the states are partitioned by hash among the
 * threads, each owning a table. The queue is expanded a chunk at a time (a run
 * of ids within one BFS level): every thread expands a contiguous part of the
 * chunk and posts each successor, with its serial order key (parent id,
 * successor index), to the mailbox of the successor's owner; every owner then
 * looks up its mail in key order, so a new state's first discoverer is the one
 * the serial search meets first. New states are numbered by merging the owners'
 * lists in key order: exactly the serial search's ids.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#ifndef RB_W
#error "RB_W must be defined by the generated model code"
#endif

#define RB_OK 0
#define RB_MORE 1
#define RB_STOPPED 2
#define RB_ERR_STEP -1      /* a step broke a slot range, an index or arithmetic */
#define RB_ERR_MEMORY -2
#define RB_ERR_TOO_MANY -3  /* more than 2^31 - 2 states */
#define RB_ERR_THREAD -4

#define RB_DROP_STATES 1
#define RB_DROP_DEPTH 2

#define RB_MAX_IDS 0x7FFFFFFEll
#define RB_LOCAL 0x80000000u  /* table entry of a state numbered at the chunk's end */
#define RB_NOPARENT 0xFFFFFFFFu

typedef struct rb_ctx rb_ctx;

typedef struct {
    uint64_t *e;           /* entries: tag << 32 | (id + 1), 0 = empty */
    uint64_t cap;          /* a power of two */
    int64_t count;
} rb_table;

typedef struct {           /* a successor on its way to its owner */
    uint64_t w[RB_W];
    uint64_t hash;
    uint64_t key;          /* parent id << 20 | successor index */
    int64_t res;           /* its id once looked up; -1 dropped */
} rb_cand;

typedef struct {
    rb_cand *v;
    int64_t n, cap;
} rb_box;

typedef struct rb_worker rb_worker;

struct rb_ctx {
    uint64_t *states;      /* n * RB_W words */
    uint32_t *parent;
    int64_t cap;           /* states allocated */
    rb_table *tables;      /* one per thread (owner) */
    int nthreads;
    int64_t n, cursor, limit, transitions;
    int64_t *levels;       /* id of the first state of each depth */
    int64_t nlevels, levels_cap, level_end, max_depth;
    int depth_frozen, dropped, drop_reason, started;
    int stop_on_violation, check_deadlock, record_edges, stop;
    int64_t stop_at;       /* stop_on_violation: the first violating id; the search
                            * stops when its cursor gets there, as the interpreted
                            * explorer (which checks a state when it leaves the
                            * queue) does: same states, transitions and verdicts */
    int64_t found_always[RB_NALWAYS], found_some[RB_NSOME];
    int open_always, open_some;
    int64_t deadlock;
    int64_t *offsets;      /* the graph (eventually properties): CSR over ids */
    int64_t noffsets, offsets_cap;
    uint32_t *targets;
    int64_t ntargets, targets_cap;
    int err, err_step, err_slot;   /* the first error */
    int64_t err_value, err_state;
    rb_worker *worker;     /* set in a worker thread's own context */
    int32_t *comp;         /* SCC ids (rb_scc) */
    int64_t ncomp;
    int64_t chunk;         /* parallel: states expanded per chunk at most */
    int64_t min_par;       /* parallel: smaller chunks are expanded serially */
    int64_t par_chunks, serial_chunks;
};

/* ---- provided by the generated code ------------------------------------ */
static int rb_succ(rb_ctx *c, const uint64_t *src, int64_t id);
static int rb_always(rb_ctx *c, int k, const uint64_t *w);
static int rb_some(rb_ctx *c, int k, const uint64_t *w);
static int rb_event(rb_ctx *c, int k, const uint64_t *w);
static int rb_finished(rb_ctx *c, const uint64_t *w);
static const int rb_nalways, rb_nsome, rb_nevent;
/* the state as the interpreted explorer's key (the model's state_struct),
 * RB_KEY bytes; RB_KEY is 0 when the generator could not print that format */
static void rb_key(const uint64_t *w, uint8_t *out);

/* ---- arithmetic with Python's meaning ------------------------------------ */
#define RB_E_ARITH 1
#define RB_E_RANGE 2
#define RB_E_INDEX 3

static inline int64_t rb_floordiv(rb_ctx *c, int64_t a, int64_t b) {
    if (b == 0) { c->err = RB_E_ARITH; return 0; }
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
    return q;
}
static inline int64_t rb_mod(rb_ctx *c, int64_t a, int64_t b) {
    if (b == 0) { c->err = RB_E_ARITH; return 0; }
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}
static inline int64_t rb_shl(rb_ctx *c, int64_t a, int64_t b) {
    if (b < 0 || b > 62) { c->err = RB_E_ARITH; return 0; }
    return (int64_t)((uint64_t)a << b);
}
static inline int64_t rb_shr(rb_ctx *c, int64_t a, int64_t b) {
    if (b < 0) { c->err = RB_E_ARITH; return 0; }
    if (b > 63) return a < 0 ? -1 : 0;
    return a >> b;
}
static inline int64_t rb_bad_index(rb_ctx *c, int slot, int64_t i) {
    if (!c->err) { c->err = RB_E_INDEX; c->err_slot = slot; c->err_value = i; }
    return 0;
}
static inline void rb_bad_value(rb_ctx *c, int slot, int64_t v) {
    if (!c->err) { c->err = RB_E_RANGE; c->err_slot = slot; c->err_value = v; }
}

/* ---- hashing -------------------------------------------------------------- */
static inline uint64_t rb_hash(const uint64_t *w) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < RB_W; i++) {
        h ^= w[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline int rb_eq(const uint64_t *a, const uint64_t *b) {
    for (int i = 0; i < RB_W; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

#define RB_STATE(c, id) ((c)->states + (int64_t)(id) * RB_W)

static inline int rb_owner(const rb_ctx *c, uint64_t h) {
    return c->nthreads == 1 ? 0 : (int)((h >> 32) % (uint64_t)c->nthreads);
}

/* ---- growth --------------------------------------------------------------- */
static int rb_grow_states(rb_ctx *c, int64_t need) {
    if (need <= c->cap) return 0;
    int64_t cap = c->cap ? c->cap : 1024;
    while (cap < need) cap += cap / 2 + 1024;
    uint64_t *s = realloc(c->states, (size_t)cap * RB_W * 8);
    if (!s) return RB_ERR_MEMORY;
    c->states = s;
    uint32_t *p = realloc(c->parent, (size_t)cap * 4);
    if (!p) return RB_ERR_MEMORY;
    c->parent = p;
    c->cap = cap;
    return 0;
}

/* The hash of a table entry's state; `local` resolves entries of states not yet
 * numbered (parallel chunks). */
static inline uint64_t rb_entry_hash(rb_ctx *c, uint64_t e, rb_cand **local) {
    uint32_t v = (uint32_t)e - 1;
    if (v & RB_LOCAL) return local[v & ~RB_LOCAL]->hash;
    return rb_hash(RB_STATE(c, v));
}

static int rb_rehash(rb_ctx *c, rb_table *tb, rb_cand **local) {
    uint64_t cap = tb->cap * 2;
    uint64_t *t = calloc(cap, 8);
    if (!t) return RB_ERR_MEMORY;
    uint64_t mask = cap - 1;
    for (uint64_t j = 0; j < tb->cap; j++) {
        uint64_t e = tb->e[j];
        if (!e) continue;
        uint64_t h = rb_entry_hash(c, e, local);
        uint64_t i = h & mask;
        while (t[i]) i = (i + 1) & mask;
        t[i] = e;
    }
    free(tb->e);
    tb->e = t;
    tb->cap = cap;
    return 0;
}

static int rb_push_level(rb_ctx *c, int64_t start) {
    if (c->nlevels == c->levels_cap) {
        int64_t cap = c->levels_cap ? c->levels_cap * 2 : 64;
        int64_t *l = realloc(c->levels, (size_t)cap * 8);
        if (!l) return RB_ERR_MEMORY;
        c->levels = l;
        c->levels_cap = cap;
    }
    c->levels[c->nlevels++] = start;
    return 0;
}

static int rb_reserve_targets(rb_ctx *c, int64_t more) {
    if (c->ntargets + more <= c->targets_cap) return 0;
    int64_t cap = c->targets_cap ? c->targets_cap : 4096;
    while (cap < c->ntargets + more) cap += cap / 2;
    uint32_t *t = realloc(c->targets, (size_t)cap * 4);
    if (!t) return RB_ERR_MEMORY;
    c->targets = t;
    c->targets_cap = cap;
    return 0;
}

static int rb_push_offset(rb_ctx *c, int64_t at) {
    if (c->noffsets == c->offsets_cap) {
        int64_t cap = c->offsets_cap ? c->offsets_cap + c->offsets_cap / 2 : 4096;
        int64_t *o = realloc(c->offsets, (size_t)cap * 8);
        if (!o) return RB_ERR_MEMORY;
        c->offsets = o;
        c->offsets_cap = cap;
    }
    c->offsets[c->noffsets++] = at;
    return 0;
}

/* ---- lookup and insertion ------------------------------------------------- */
/* The entry of a state in its owner's table, or 0; *slot is where it is (or
 * the empty slot where it would go). */
static inline uint64_t rb_probe(rb_ctx *c, rb_table *tb, const uint64_t *w, uint64_t h,
                                rb_cand **local, uint64_t *slot) {
    uint64_t mask = tb->cap - 1, i = h & mask;
    uint64_t tag = h >> 32;
    for (;;) {
        uint64_t e = tb->e[i];
        if (!e) { *slot = i; return 0; }
        if ((e >> 32) == tag) {
            uint32_t v = (uint32_t)e - 1;
            const uint64_t *x = (v & RB_LOCAL) ? local[v & ~RB_LOCAL]->w : RB_STATE(c, v);
            if (rb_eq(x, w)) { *slot = i; return e; }
        }
        i = (i + 1) & mask;
    }
}

/* Put entry value `val` for a new state in `tb` (its probe ended at `slot`). */
static inline int rb_table_add(rb_ctx *c, rb_table *tb, uint64_t h, uint64_t slot,
                               uint32_t val, rb_cand **local) {
    if ((uint64_t)(tb->count + 1) * 10 > tb->cap * 7) {
        if (rb_rehash(c, tb, local)) return RB_ERR_MEMORY;
        uint64_t mask = tb->cap - 1;
        slot = h & mask;
        while (tb->e[slot]) slot = (slot + 1) & mask;
    }
    tb->e[slot] = ((h >> 32) << 32) | (uint64_t)val;
    tb->count++;
    return 0;
}

/* ---- properties of a new state ------------------------------------------- */
static inline void rb_check_new(rb_ctx *c, const uint64_t *w, int64_t id) {
    if (c->open_always) {
        for (int k = 0; k < rb_nalways; k++) {
            if (c->found_always[k] < 0 && !rb_always(c, k, w)) {
                c->found_always[k] = id;
                c->open_always--;
                if (c->stop_on_violation && (c->stop_at < 0 || id < c->stop_at))
                    c->stop_at = id;
            }
        }
    }
    if (c->open_some) {
        for (int k = 0; k < rb_nsome; k++) {
            if (c->found_some[k] < 0 && rb_some(c, k, w)) {
                c->found_some[k] = id;
                c->open_some--;
            }
        }
    }
}

static int rb_append(rb_ctx *c, const uint64_t *w, int64_t parent) {
    int64_t id = c->n;
    if (id >= RB_MAX_IDS) return RB_ERR_TOO_MANY;
    if (rb_grow_states(c, id + 1)) return RB_ERR_MEMORY;
    memcpy(RB_STATE(c, id), w, RB_W * 8);
    c->parent[id] = parent < 0 ? RB_NOPARENT : (uint32_t)parent;
    c->n = id + 1;
    return 0;
}

/* A successor of state `from` found by the serial search. */
static inline int rb_emit(rb_ctx *c, const uint64_t *w, int64_t from) {
    uint64_t h = rb_hash(w), slot;
    rb_table *tb = &c->tables[rb_owner(c, h)];
    uint64_t e = rb_probe(c, tb, w, h, 0, &slot);
    int64_t id;
    if (e) {
        id = (int64_t)(uint32_t)e - 1;
    } else {
        if (c->n >= c->limit) {
            if (!c->dropped) {
                c->dropped = 1;
                c->drop_reason = c->depth_frozen ? RB_DROP_DEPTH : RB_DROP_STATES;
            }
            return 0;
        }
        id = c->n;
        int r = rb_append(c, w, from);
        if (r) return r;
        if (rb_table_add(c, tb, h, slot, (uint32_t)(id + 1), 0)) return RB_ERR_MEMORY;
        rb_check_new(c, w, id);
    }
    if (c->record_edges) {
        if (rb_reserve_targets(c, 1)) return RB_ERR_MEMORY;
        c->targets[c->ntargets++] = (uint32_t)id;
    }
    return 0;
}

/* ---- parallel search: the workers' side ---------------------------------- */
struct rb_worker {
    rb_ctx *c;             /* the shared search */
    rb_ctx own;            /* this thread's context: its error fields */
    int t;
    int64_t lo, hi;        /* the ids it expands */
    rb_box *out;           /* its mailboxes, one per owner */
    uint8_t *route;        /* the owner of each successor, in order */
    int64_t nroute, route_cap;
    int64_t transitions, deadlock;
    int rc;
    /* owner side */
    rb_cand **fresh;       /* new states of the chunk it owns, in key order */
    int64_t nfresh, fresh_cap;
    int64_t *fresh_id;     /* their ids once numbered */
    int64_t found_always[RB_NALWAYS], found_some[RB_NSOME];   /* fresh indexes */
    int64_t edge_lo, nedges;   /* its part of the chunk's edges */
    int32_t *nsucc;        /* successors of each state it expands (edges only) */
    int64_t nsucc_cap;
};

static int rb_box_push(rb_box *b, const uint64_t *w, uint64_t h, uint64_t key) {
    if (b->n == b->cap) {
        int64_t cap = b->cap ? b->cap * 2 : 1024;
        rb_cand *v = realloc(b->v, (size_t)cap * sizeof *v);
        if (!v) return RB_ERR_MEMORY;
        b->v = v;
        b->cap = cap;
    }
    rb_cand *x = &b->v[b->n++];
    memcpy(x->w, w, RB_W * 8);
    x->hash = h;
    x->key = key;
    x->res = -1;
    return 0;
}

static int rb_post(rb_ctx *own, const uint64_t *w, int64_t from, int j) {
    rb_worker *wk = own->worker;
    uint64_t h = rb_hash(w);
    int o = rb_owner(wk->c, h);
    if (!wk->c->record_edges)   /* the route is needed only to write edges */
        return rb_box_push(&wk->out[o], w, h, ((uint64_t)from << 20) | (uint64_t)j);
    if (wk->nroute == wk->route_cap) {
        int64_t cap = wk->route_cap ? wk->route_cap * 2 : 4096;
        uint8_t *r = realloc(wk->route, (size_t)cap);
        if (!r) return RB_ERR_MEMORY;
        wk->route = r;
        wk->route_cap = cap;
    }
    wk->route[wk->nroute++] = (uint8_t)o;
    return rb_box_push(&wk->out[o], w, h, ((uint64_t)from << 20) | (uint64_t)j);
}

/* What the generated successor code calls for every successor. */
static inline int rb_put(rb_ctx *c, const uint64_t *w, int64_t from, int j) {
    if (c->worker) return rb_post(c, w, from, j);
    return rb_emit(c, w, from);
}

static void *rb_expand_part(void *arg) {
    rb_worker *wk = arg;
    rb_ctx *c = wk->c;
    uint64_t cur[RB_W];
    wk->rc = 0;
    if (c->record_edges && wk->nsucc_cap < wk->hi - wk->lo) {
        free(wk->nsucc);
        wk->nsucc_cap = wk->hi - wk->lo;
        wk->nsucc = malloc((size_t)wk->nsucc_cap * 4);
        if (!wk->nsucc) { wk->nsucc_cap = 0; wk->rc = RB_ERR_MEMORY; return 0; }
    }
    for (int64_t id = wk->lo; id < wk->hi; id++) {
        memcpy(cur, RB_STATE(c, id), RB_W * 8);
        int k = rb_succ(&wk->own, cur, id);
        if (k < 0) { wk->rc = k; wk->own.err_state = id; return 0; }
        wk->transitions += k;
        if (c->record_edges) wk->nsucc[id - wk->lo] = k;
        if (k == 0 && c->check_deadlock && wk->deadlock < 0 && !rb_finished(&wk->own, cur))
            wk->deadlock = id;
        if (wk->own.err) { wk->rc = RB_ERR_STEP; wk->own.err_state = id; return 0; }
    }
    return 0;
}

static int rb_fresh_push(rb_worker *wk, rb_cand *x) {
    if (wk->nfresh == wk->fresh_cap) {
        int64_t cap = wk->fresh_cap ? wk->fresh_cap * 2 : 1024;
        rb_cand **f = realloc(wk->fresh, (size_t)cap * sizeof *f);
        if (!f) return RB_ERR_MEMORY;
        wk->fresh = f;
        wk->fresh_cap = cap;
    }
    wk->fresh[wk->nfresh++] = x;
    return 0;
}

/* Owner t looks up its mail, from every sender in order (so in key order). */
static void *rb_own_part(void *arg) {
    rb_worker *wk = arg, *all = wk - wk->t;
    rb_ctx *c = wk->c;
    rb_table *tb = &c->tables[wk->t];
    wk->rc = 0;
    wk->nfresh = 0;
    for (int k = 0; k < rb_nalways; k++) wk->found_always[k] = -1;
    for (int k = 0; k < rb_nsome; k++) wk->found_some[k] = -1;
    for (int s = 0; s < c->nthreads; s++) {
        rb_box *b = &all[s].out[wk->t];
        for (int64_t i = 0; i < b->n; i++) {
            rb_cand *x = &b->v[i];
            uint64_t slot;
            uint64_t e = rb_probe(c, tb, x->w, x->hash, wk->fresh, &slot);
            if (e) {
                uint32_t v = (uint32_t)e - 1;
                x->res = (v & RB_LOCAL) ? -2 - (int64_t)(v & ~RB_LOCAL) : (int64_t)v;
                continue;
            }
            int64_t idx = wk->nfresh;
            if (rb_fresh_push(wk, x)) { wk->rc = RB_ERR_MEMORY; return 0; }
            if (rb_table_add(c, tb, x->hash, slot, (uint32_t)(idx | RB_LOCAL) + 1,
                             wk->fresh)) {
                wk->rc = RB_ERR_MEMORY;
                return 0;
            }
            x->res = -2 - idx;
            for (int k = 0; k < rb_nalways; k++)
                if (c->found_always[k] < 0 && wk->found_always[k] < 0
                    && !rb_always(&wk->own, k, x->w))
                    wk->found_always[k] = idx;
            for (int k = 0; k < rb_nsome; k++)
                if (c->found_some[k] < 0 && wk->found_some[k] < 0
                    && rb_some(&wk->own, k, x->w))
                    wk->found_some[k] = idx;
            if (wk->own.err) { wk->rc = RB_ERR_STEP; wk->own.err_state = -1; return 0; }
        }
    }
    return 0;
}

/* Owner t writes the ids of its new states into its table. */
static void *rb_fix_part(void *arg) {
    rb_worker *wk = arg;
    rb_ctx *c = wk->c;
    rb_table *tb = &c->tables[wk->t];
    uint64_t mask = tb->cap - 1;
    for (int64_t idx = 0; idx < wk->nfresh; idx++) {
        uint64_t h = wk->fresh[idx]->hash, i = h & mask;
        uint32_t want = (uint32_t)(idx | RB_LOCAL) + 1;
        while ((uint32_t)tb->e[i] != want) i = (i + 1) & mask;
        tb->e[i] = (tb->e[i] & 0xFFFFFFFF00000000ull) | (uint64_t)(wk->fresh_id[idx] + 1);
    }
    return 0;
}

/* Sender t writes the target ids of its part of the chunk's edges. */
static void *rb_edges_part(void *arg) {
    rb_worker *wk = arg, *all = wk - wk->t;
    rb_ctx *c = wk->c;
    int64_t pos[256] = {0};
    int64_t e = wk->edge_lo;
    for (int64_t r = 0; r < wk->nroute; r++) {
        int o = wk->route[r];
        rb_cand *x = &wk->out[o].v[pos[o]++];
        int64_t id = x->res;
        if (id <= -2) id = all[o].fresh_id[-2 - id];
        if (id >= 0) c->targets[e++] = (uint32_t)id;
    }
    wk->nedges = e - wk->edge_lo;
    return 0;
}

static int rb_threads(rb_ctx *c, rb_worker *wk, void *(*fn)(void *)) {
    pthread_t th[256];
    int started = 0, rc = 0;
    for (int t = 1; t < c->nthreads; t++) {
        if (pthread_create(&th[t], 0, fn, &wk[t])) { rc = RB_ERR_THREAD; break; }
        started = t;
    }
    if (!rc) fn(&wk[0]);
    for (int t = 1; t <= started; t++) pthread_join(th[t], 0);
    if (rc) return rc;
    for (int t = 0; t < c->nthreads; t++)
        if (wk[t].rc) return wk[t].rc;
    return 0;
}

/* ---- the interface (ctypes) ---------------------------------------------- */
int rb_words(void) { return RB_W; }

rb_ctx *rb_new(int64_t max_states, int64_t max_depth, int stop_on_violation,
               int check_deadlock, int record_edges, int nthreads) {
    if (nthreads < 1 || nthreads > 64) return 0;
    rb_ctx *c = calloc(1, sizeof *c);
    if (!c) return 0;
    c->limit = max_states < 0 || max_states > RB_MAX_IDS ? RB_MAX_IDS : max_states;
    c->max_depth = max_depth;
    c->stop_on_violation = stop_on_violation;
    c->check_deadlock = check_deadlock;
    c->record_edges = record_edges;
    c->deadlock = -1;
    c->stop_at = -1;
    c->err_state = -1;
    for (int k = 0; k < RB_NALWAYS; k++) c->found_always[k] = -1;
    for (int k = 0; k < RB_NSOME; k++) c->found_some[k] = -1;
    c->open_always = rb_nalways;
    c->open_some = rb_nsome;
    c->nthreads = nthreads;
    c->chunk = 1 << 16;
    c->min_par = 2048 * nthreads;   /* smaller chunks: the threads' hand-offs cost more */
    c->tables = calloc((size_t)nthreads, sizeof *c->tables);
    int ok = c->tables != 0 && rb_push_level(c, 0) == 0;
    for (int t = 0; ok && t < nthreads; t++) {
        c->tables[t].cap = 1024;
        c->tables[t].e = calloc(1024, 8);
        ok = c->tables[t].e != 0;
    }
    if (!ok) {
        if (c->tables)
            for (int t = 0; t < nthreads; t++) free(c->tables[t].e);
        free(c->tables); free(c->levels); free(c);
        return 0;
    }
    return c;
}

void rb_free(rb_ctx *c) {
    if (!c) return;
    for (int t = 0; t < c->nthreads; t++) free(c->tables[t].e);
    free(c->tables);
    free(c->states); free(c->parent); free(c->levels);
    free(c->offsets); free(c->targets); free(c->comp);
    free(c);
}

void rb_set_chunk(rb_ctx *c, int64_t chunk, int64_t min_par) {
    c->chunk = chunk < 1 ? 1 : chunk;
    c->min_par = min_par < 1 ? 1 : min_par;
}

/* Add an initial state; returns its id (an old one if seen), or < 0. */
int64_t rb_add_init(rb_ctx *c, const uint64_t *w) {
    uint64_t h = rb_hash(w), slot;
    rb_table *tb = &c->tables[rb_owner(c, h)];
    uint64_t e = rb_probe(c, tb, w, h, 0, &slot);
    if (e) return (int64_t)(uint32_t)e - 1;
    if (c->n >= c->limit) {
        c->dropped = 1;
        c->drop_reason = RB_DROP_STATES;
        return -5;
    }
    int64_t id = c->n;
    int r = rb_append(c, w, -1);
    if (r) return r;
    if (rb_table_add(c, tb, h, slot, (uint32_t)(id + 1), 0)) return RB_ERR_MEMORY;
    rb_check_new(c, w, id);
    if (c->err) { c->err_step = -1; c->err_state = id; return RB_ERR_STEP; }
    c->level_end = c->n;
    return id;
}

/* Once the initial states are in: a depth bound of 0 keeps only them. */
static void rb_start(rb_ctx *c) {
    if (c->started) return;
    c->started = 1;
    if (c->max_depth == 0) {
        c->limit = c->n;
        c->depth_frozen = 1;
    }
}

/* The level bookkeeping of the interpreted explorer, at the start of a level. */
static int rb_level_start(rb_ctx *c) {
    if (c->cursor != c->level_end) return 0;
    if (rb_push_level(c, c->cursor)) return RB_ERR_MEMORY;
    c->level_end = c->n;
    if (c->max_depth >= 0 && c->nlevels - 1 >= c->max_depth) {
        c->limit = c->n;
        c->depth_frozen = 1;
    }
    return 0;
}

static int rb_expand_one(rb_ctx *c) {
    uint64_t cur[RB_W];
    int64_t id = c->cursor;
    memcpy(cur, RB_STATE(c, id), RB_W * 8);
    if (c->record_edges && rb_push_offset(c, c->ntargets)) return RB_ERR_MEMORY;
    int k = rb_succ(c, cur, id);
    if (k < 0 || c->err) {
        if (!c->err_state || c->err_state < 0) c->err_state = id;
        return k < 0 ? k : RB_ERR_STEP;
    }
    c->transitions += k;
    if (k == 0 && c->check_deadlock && c->deadlock < 0) {
        int fin = rb_finished(c, cur);
        if (c->err) { c->err_step = -2; c->err_state = id; return RB_ERR_STEP; }
        if (!fin) {
            c->deadlock = id;
            if (c->stop_on_violation) c->stop = 1;
        }
    }
    c->cursor = id + 1;
    return 0;
}

/* Expand up to `budget` states serially. */
int rb_run(rb_ctx *c, int64_t budget) {
    rb_start(c);
    if (c->stop) return RB_STOPPED;
    while (c->cursor < c->n) {
        if (budget-- <= 0) return RB_MORE;
        int r = rb_level_start(c);
        if (r) return r;
        if (c->stop_at >= 0 && c->cursor >= c->stop_at) {
            c->stop = 1;
            return RB_STOPPED;
        }
        r = rb_expand_one(c);
        if (r) return r;
        if (c->stop) return RB_STOPPED;
    }
    return RB_OK;
}

/* One chunk [cursor, hi) by all threads. */
static int rb_chunk(rb_ctx *c, rb_worker *wk, int64_t hi) {
    int T = c->nthreads;
    int64_t lo = c->cursor, span = hi - lo;
    for (int t = 0; t < T; t++) {
        wk[t].lo = lo + span * t / T;
        wk[t].hi = lo + span * (t + 1) / T;
        wk[t].nroute = 0;
        wk[t].transitions = 0;
        wk[t].deadlock = -1;
        for (int o = 0; o < T; o++) wk[t].out[o].n = 0;
        memset(&wk[t].own, 0, sizeof wk[t].own);
        wk[t].own.worker = &wk[t];
        wk[t].own.nthreads = T;
        wk[t].own.err_state = -1;
    }
    int r = rb_threads(c, wk, rb_expand_part);
    if (r) {
        for (int t = 0; t < T; t++)
            if (wk[t].rc) {
                c->err = wk[t].own.err; c->err_step = wk[t].own.err_step;
                c->err_slot = wk[t].own.err_slot; c->err_value = wk[t].own.err_value;
                c->err_state = wk[t].own.err_state;
                break;
            }
        return r;
    }
    int64_t mail = 0;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < T; o++) mail += wk[t].out[o].n;
    if (c->n + mail > c->limit) return 1;   /* a bound may drop states: serially */
    r = rb_threads(c, wk, rb_own_part);
    if (r) {
        for (int t = 0; t < T; t++)
            if (wk[t].rc && wk[t].own.err) {
                c->err = wk[t].own.err; c->err_step = wk[t].own.err_step;
                c->err_slot = wk[t].own.err_slot; c->err_value = wk[t].own.err_value;
                break;
            }
        return r;
    }
    /* number the new states: merge the owners' lists by key */
    int64_t fresh = 0;
    for (int t = 0; t < T; t++) {
        fresh += wk[t].nfresh;
        free(wk[t].fresh_id);
        wk[t].fresh_id = malloc((size_t)(wk[t].nfresh ? wk[t].nfresh : 1) * 8);
        if (!wk[t].fresh_id) return RB_ERR_MEMORY;
    }
    if (c->n + fresh > RB_MAX_IDS) return RB_ERR_TOO_MANY;
    if (rb_grow_states(c, c->n + fresh)) return RB_ERR_MEMORY;
    int64_t pos[64] = {0};
    for (int64_t i = 0; i < fresh; i++) {
        int best = -1;
        for (int t = 0; t < T; t++)
            if (pos[t] < wk[t].nfresh
                && (best < 0 || wk[t].fresh[pos[t]]->key < wk[best].fresh[pos[best]]->key))
                best = t;
        rb_cand *x = wk[best].fresh[pos[best]];
        int64_t id = c->n++;
        memcpy(RB_STATE(c, id), x->w, RB_W * 8);
        c->parent[id] = (uint32_t)(x->key >> 20);
        wk[best].fresh_id[pos[best]++] = id;
    }
    rb_threads(c, wk, rb_fix_part);
    /* properties: the first (smallest id) of each owner's finds */
    for (int k = 0; k < rb_nalways; k++) {
        if (c->found_always[k] >= 0) continue;
        for (int t = 0; t < T; t++)
            if (wk[t].found_always[k] >= 0) {
                int64_t id = wk[t].fresh_id[wk[t].found_always[k]];
                if (c->found_always[k] < 0 || id < c->found_always[k]) c->found_always[k] = id;
            }
        if (c->found_always[k] >= 0) {
            c->open_always--;
            if (c->stop_on_violation
                && (c->stop_at < 0 || c->found_always[k] < c->stop_at))
                c->stop_at = c->found_always[k];
        }
    }
    for (int k = 0; k < rb_nsome; k++) {
        if (c->found_some[k] >= 0) continue;
        for (int t = 0; t < T; t++)
            if (wk[t].found_some[k] >= 0) {
                int64_t id = wk[t].fresh_id[wk[t].found_some[k]];
                if (c->found_some[k] < 0 || id < c->found_some[k]) c->found_some[k] = id;
            }
        if (c->found_some[k] >= 0) c->open_some--;
    }
    /* the graph: offsets in id order, then each sender's targets (a parallel
     * chunk drops nothing, so every successor is an edge) */
    if (c->record_edges) {
        if (rb_reserve_targets(c, mail)) return RB_ERR_MEMORY;
        int64_t at = c->ntargets;
        for (int t = 0; t < T; t++) {
            wk[t].edge_lo = at;
            for (int64_t i = 0; i < wk[t].hi - wk[t].lo; i++) {
                if (rb_push_offset(c, at)) return RB_ERR_MEMORY;
                at += wk[t].nsucc[i];
            }
        }
        rb_threads(c, wk, rb_edges_part);
        c->ntargets = at;
    }
    /* statistics, deadlock in id order */
    for (int t = 0; t < T; t++) {
        c->transitions += wk[t].transitions;
        if (wk[t].deadlock >= 0 && c->deadlock < 0) {
            c->deadlock = wk[t].deadlock;
            if (c->stop_on_violation) c->stop = 1;
        }
    }
    c->cursor = hi;
    return 0;
}

/* Expand up to `budget` states with nthreads threads (serially where a chunk is
 * small or a bound could drop states). */
int rb_run_parallel(rb_ctx *c, int64_t budget) {
    int T = c->nthreads;
    /* stopping at the first violation needs the serial order of expansion (a
     * deadlock ends the search at its own id, not at the end of a chunk) */
    if (T == 1 || c->stop_on_violation) return rb_run(c, budget);
    rb_start(c);
    if (c->stop) return RB_STOPPED;
    rb_worker *wk = calloc((size_t)T, sizeof *wk);
    if (!wk) return RB_ERR_MEMORY;
    int r = 0;
    for (int t = 0; t < T && !r; t++) {
        wk[t].c = c;
        wk[t].t = t;
        wk[t].out = calloc((size_t)T, sizeof(rb_box));
        if (!wk[t].out) r = RB_ERR_MEMORY;
    }
    while (!r && c->cursor < c->n && budget > 0) {
        r = rb_level_start(c);
        if (r) break;
        int64_t hi = c->level_end;
        if (hi - c->cursor > c->chunk) hi = c->cursor + c->chunk;
        if (hi - c->cursor > budget) hi = c->cursor + budget;
        int serial = hi - c->cursor < c->min_par || c->depth_frozen || c->n >= c->limit;
        if (!serial) {
            int64_t span = hi - c->cursor;
            r = rb_chunk(c, wk, hi);
            if (r == 1) { serial = 1; r = 0; }
            else if (!r) { c->par_chunks++; budget -= span; }
        }
        if (serial && !r) {
            c->serial_chunks++;
            while (!r && c->cursor < hi && !c->stop) {
                r = rb_expand_one(c);
                budget--;
            }
        }
        if (!r && c->stop) r = RB_STOPPED;
    }
    for (int t = 0; t < T; t++) {
        if (wk[t].out) {
            for (int o = 0; o < T; o++) free(wk[t].out[o].v);
            free(wk[t].out);
        }
        free(wk[t].route); free(wk[t].fresh); free(wk[t].fresh_id); free(wk[t].nsucc);
    }
    free(wk);
    if (r) return r;
    if (c->stop) return RB_STOPPED;
    return c->cursor < c->n ? RB_MORE : RB_OK;
}

/* The keys of states [lo, hi) (RB_KEY bytes each) into out. */
int rb_keys(rb_ctx *c, int64_t lo, int64_t hi, uint8_t *out) {
    if (!RB_KEY || lo < 0 || hi > c->n) return -1;
    for (int64_t id = lo; id < hi; id++, out += RB_KEY) rb_key(RB_STATE(c, id), out);
    return 0;
}

int rb_key_size(void) { return RB_KEY; }

/* ---- the graph digest (rbmap.manifest.graph_digest), with BLAKE2b ----------
 * Each state contributes BLAKE2b with an 8-byte digest of its key followed by
 * its successors' keys, sorted (RFC 7693; checked against Python's hashlib by
 * the tests); the digest is the sum of the contributions modulo 2^64. */
typedef struct { uint64_t h[8], t; uint8_t b[128]; size_t c; } rb_b2;

static const uint64_t rb_b2_iv[8] = {
    0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull, 0x3c6ef372fe94f82bull,
    0xa54ff53a5f1d36f1ull, 0x510e527fade682d1ull, 0x9b05688c2b3e6c1full,
    0x1f83d9abfb41bd6bull, 0x5be0cd19137e2179ull};
static const uint8_t rb_b2_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

static inline uint64_t rb_rotr(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

#define RB_B2G(a, b, c, d, x, y) do { \
    v[a] += v[b] + (x); v[d] = rb_rotr(v[d] ^ v[a], 32); \
    v[c] += v[d]; v[b] = rb_rotr(v[b] ^ v[c], 24); \
    v[a] += v[b] + (y); v[d] = rb_rotr(v[d] ^ v[a], 16); \
    v[c] += v[d]; v[b] = rb_rotr(v[b] ^ v[c], 63); } while (0)

static void rb_b2_compress(rb_b2 *s, int last) {
    uint64_t v[16], m[16];
    for (int i = 0; i < 16; i++) {
        uint64_t x = 0;
        for (int k = 7; k >= 0; k--) x = (x << 8) | s->b[8 * i + k];
        m[i] = x;
    }
    for (int i = 0; i < 8; i++) { v[i] = s->h[i]; v[i + 8] = rb_b2_iv[i]; }
    v[12] ^= s->t;          /* messages here are far below 2^64 bytes */
    if (last) v[14] = ~v[14];
    for (int r = 0; r < 12; r++) {
        const uint8_t *g = rb_b2_sigma[r];
        RB_B2G(0, 4, 8, 12, m[g[0]], m[g[1]]);
        RB_B2G(1, 5, 9, 13, m[g[2]], m[g[3]]);
        RB_B2G(2, 6, 10, 14, m[g[4]], m[g[5]]);
        RB_B2G(3, 7, 11, 15, m[g[6]], m[g[7]]);
        RB_B2G(0, 5, 10, 15, m[g[8]], m[g[9]]);
        RB_B2G(1, 6, 11, 12, m[g[10]], m[g[11]]);
        RB_B2G(2, 7, 8, 13, m[g[12]], m[g[13]]);
        RB_B2G(3, 4, 9, 14, m[g[14]], m[g[15]]);
    }
    for (int i = 0; i < 8; i++) s->h[i] ^= v[i] ^ v[i + 8];
}

static void rb_b2_init8(rb_b2 *s) {
    for (int i = 0; i < 8; i++) s->h[i] = rb_b2_iv[i];
    s->h[0] ^= 0x01010000ull ^ 8;   /* no key, 8-byte digest */
    s->t = 0;
    s->c = 0;
}

static void rb_b2_update(rb_b2 *s, const uint8_t *in, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s->c == 128) {
            s->t += 128;
            rb_b2_compress(s, 0);
            s->c = 0;
        }
        s->b[s->c++] = in[i];
    }
}

static uint64_t rb_b2_final8(rb_b2 *s) {
    s->t += s->c;
    memset(s->b + s->c, 0, 128 - s->c);
    rb_b2_compress(s, 1);
    return s->h[0];         /* the 8 digest bytes, read little-endian */
}

static int rb_key_cmp(const void *a, const void *b) { return memcmp(a, b, RB_KEY); }

/* The digest into *out; -1 without keys (RB_KEY 0), -2 out of memory. */
int rb_digest(rb_ctx *c, uint64_t *out) {
    if (!RB_KEY) return -1;
    uint8_t key[RB_KEY ? RB_KEY : 1];
    uint8_t *succ = 0;
    int64_t succ_cap = 0;
    uint64_t total = 0;
    for (int64_t u = 0; u < c->n; u++) {
        rb_b2 s;
        rb_b2_init8(&s);
        rb_key(RB_STATE(c, u), key);
        rb_b2_update(&s, key, RB_KEY);
        if (c->record_edges && u < c->noffsets) {
            int64_t a = c->offsets[u];
            int64_t b = u + 1 < c->noffsets ? c->offsets[u + 1] : c->ntargets;
            if (b - a > succ_cap) {
                free(succ);
                succ_cap = (b - a) * 2;
                succ = malloc((size_t)succ_cap * RB_KEY);
                if (!succ) return -2;
            }
            for (int64_t e = a; e < b; e++)
                rb_key(RB_STATE(c, c->targets[e]), succ + (e - a) * RB_KEY);
            if (b - a > 1) qsort(succ, (size_t)(b - a), RB_KEY, rb_key_cmp);
            rb_b2_update(&s, succ, (size_t)(b - a) * RB_KEY);
        }
        total += rb_b2_final8(&s);
    }
    free(succ);
    *out = total;
    return 0;
}

/* Statistics (see native.py: _STATS). */
void rb_stats(rb_ctx *c, int64_t *out) {
    int64_t tcap = 0;
    for (int t = 0; t < c->nthreads; t++) tcap += (int64_t)c->tables[t].cap;
    out[0] = c->n; out[1] = c->cursor; out[2] = c->transitions; out[3] = c->nlevels;
    out[4] = c->dropped; out[5] = c->drop_reason; out[6] = c->deadlock;
    out[7] = c->err; out[8] = c->err_step; out[9] = c->err_slot; out[10] = c->err_value;
    out[11] = tcap; out[12] = c->cap; out[13] = c->level_end; out[14] = c->ntargets;
    out[15] = c->err_state; out[16] = c->par_chunks; out[17] = c->serial_chunks;
    out[18] = c->noffsets; out[19] = c->stop_at;
}

void rb_found(rb_ctx *c, int64_t *always_out, int64_t *some_out) {
    for (int k = 0; k < rb_nalways; k++) always_out[k] = c->found_always[k];
    for (int k = 0; k < rb_nsome; k++) some_out[k] = c->found_some[k];
}

void rb_levels(rb_ctx *c, int64_t *out) {
    memcpy(out, c->levels, (size_t)c->nlevels * 8);
}

int rb_state(rb_ctx *c, int64_t id, uint64_t *out) {
    if (id < 0 || id >= c->n) return -1;
    memcpy(out, RB_STATE(c, id), RB_W * 8);
    return 0;
}

int64_t rb_parent(rb_ctx *c, int64_t id) {
    if (id < 0 || id >= c->n) return -2;
    uint32_t p = c->parent[id];
    return p == RB_NOPARENT ? -1 : (int64_t)p;
}

int64_t rb_lookup(rb_ctx *c, const uint64_t *w) {
    uint64_t h = rb_hash(w), slot;
    uint64_t e = rb_probe(c, &c->tables[rb_owner(c, h)], w, h, 0, &slot);
    return e ? (int64_t)(uint32_t)e - 1 : -1;
}

/* The recorded graph: noffsets + 1 offsets (the last is ntargets), ntargets ids. */
void rb_graph(rb_ctx *c, int64_t *offsets, uint32_t *targets) {
    memcpy(offsets, c->offsets, (size_t)c->noffsets * 8);
    offsets[c->noffsets] = c->ntargets;
    memcpy(targets, c->targets, (size_t)c->ntargets * 4);
}

/* Bytes of the visited set: tables, states, parents (and the graph). */
int64_t rb_bytes(rb_ctx *c) {
    int64_t b = c->n * (RB_W * 8 + 4);
    for (int t = 0; t < c->nthreads; t++) b += (int64_t)c->tables[t].cap * 8;
    if (c->record_edges) b += c->noffsets * 8 + c->ntargets * 4;
    return b;
}

/* The successors of one state, in order, outside the search: up to `max`
 * states into out; returns their number or < 0. */
int64_t rb_successors_of(rb_ctx *c, const uint64_t *w, uint64_t *out, int64_t max) {
    rb_worker wk;
    rb_box boxes[1];
    memset(&wk, 0, sizeof wk);
    memset(boxes, 0, sizeof boxes);
    rb_ctx shadow;
    memset(&shadow, 0, sizeof shadow);
    shadow.nthreads = 1;
    shadow.worker = &wk;
    shadow.err_state = -1;
    wk.c = &shadow;
    wk.out = boxes;
    int k = rb_succ(&shadow, w, 0);
    int64_t n = boxes[0].n;
    if (k >= 0 && !shadow.err)
        for (int64_t i = 0; i < n && i < max; i++) memcpy(out + i * RB_W, boxes[0].v[i].w, RB_W * 8);
    free(boxes[0].v);
    free(wk.route);
    if (shadow.err) {
        c->err = shadow.err; c->err_step = shadow.err_step; c->err_slot = shadow.err_slot;
        c->err_value = shadow.err_value;
        return RB_ERR_STEP;
    }
    return k < 0 ? k : n;
}

/* Evaluate property k of a kind (0 always, 1 sometimes, 2 eventually) on a state. */
int rb_eval(rb_ctx *c, int kind, int k, const uint64_t *w) {
    int v = kind == 0 ? rb_always(c, k, w) : kind == 1 ? rb_some(c, k, w) : rb_event(c, k, w);
    return c->err ? -1 : v;
}

/* ---- eventually: terminal strongly connected components ------------------ */
/* Iterative Tarjan over the recorded graph: comp[u] is u's component. */
int64_t rb_scc(rb_ctx *c) {
    int64_t n = c->n, expanded = c->noffsets;
    size_t m = (size_t)(n ? n : 1);
    free(c->comp);
    c->comp = malloc(m * 4);
    uint32_t *index = malloc(m * 4), *low = malloc(m * 4), *stack = malloc(m * 4);
    uint32_t *call = malloc(m * 4);
    int64_t *pos = malloc(m * 8);
    uint8_t *onstack = calloc(m, 1);
    if (!c->comp || !index || !low || !stack || !call || !pos || !onstack) {
        free(index); free(low); free(stack); free(call); free(pos); free(onstack);
        return RB_ERR_MEMORY;
    }
    for (int64_t i = 0; i < n; i++) index[i] = 0xFFFFFFFFu;
    int64_t counter = 0, sp = 0, ncomp = 0;
#define RB_END(v) ((v) < expanded ? ((v) + 1 < expanded ? c->offsets[(v) + 1] : c->ntargets) : 0)
#define RB_BEGIN(v) ((v) < expanded ? c->offsets[v] : 0)
    for (int64_t root = 0; root < n; root++) {
        if (index[root] != 0xFFFFFFFFu) continue;
        int64_t cp = 0;
        index[root] = low[root] = (uint32_t)counter++;
        stack[sp++] = (uint32_t)root;
        onstack[root] = 1;
        call[cp] = (uint32_t)root;
        pos[cp++] = RB_BEGIN(root);
        while (cp) {
            int64_t v = call[cp - 1];
            int64_t p = pos[cp - 1], end = RB_END(v);
            int descended = 0;
            while (p < end) {
                int64_t w = c->targets[p++];
                if (index[w] == 0xFFFFFFFFu) {
                    pos[cp - 1] = p;
                    index[w] = low[w] = (uint32_t)counter++;
                    stack[sp++] = (uint32_t)w;
                    onstack[w] = 1;
                    call[cp] = (uint32_t)w;
                    pos[cp++] = RB_BEGIN(w);
                    descended = 1;
                    break;
                }
                if (onstack[w] && index[w] < low[v]) low[v] = index[w];
            }
            if (descended) continue;
            cp--;
            if (low[v] == index[v]) {
                for (;;) {
                    int64_t w = stack[--sp];
                    onstack[w] = 0;
                    c->comp[w] = (int32_t)ncomp;
                    if (w == v) break;
                }
                ncomp++;
            }
            if (cp && low[v] < low[call[cp - 1]]) low[call[cp - 1]] = low[v];
        }
    }
    free(index); free(low); free(stack); free(call); free(pos); free(onstack);
    c->ncomp = ncomp;
    return ncomp;
}

/* After rb_scc, the terminal components (no edge leaves them; one with a state
 * never expanded is left unjudged). For eventually property k (k < 0: counts
 * only) fills out[]: 0 terminal components judged, 1 smallest id of a state in
 * one where the condition is false (-1: none), 2 the size of that state's
 * component, 3 violating components, 4 their states, 5 violating states,
 * 6 components left unjudged. */
int rb_terminal(rb_ctx *c, int k, int64_t *out) {
    int64_t n = c->n, ncomp = c->ncomp, expanded = c->noffsets;
    size_t m = (size_t)(ncomp ? ncomp : 1);
    uint8_t *leaf = malloc(m), *bad = calloc(m, 1);
    int64_t *size = calloc(m, 8);
    if (!leaf || !bad || !size) { free(leaf); free(bad); free(size); return RB_ERR_MEMORY; }
    memset(leaf, 1, m);
    for (int64_t u = 0; u < n; u++) {
        int32_t cu = c->comp[u];
        size[cu]++;
        if (u >= expanded) continue;
        for (int64_t e = RB_BEGIN(u), end = RB_END(u); e < end; e++)
            if (c->comp[c->targets[e]] != cu) { leaf[cu] = 0; break; }
    }
    for (int64_t u = expanded; u < n; u++)
        if (leaf[c->comp[u]] == 1) leaf[c->comp[u]] = 2;   /* unjudged */
    int64_t terminal = 0, skipped = 0;
    for (int64_t i = 0; i < ncomp; i++) {
        if (leaf[i] == 1) terminal++;
        else if (leaf[i] == 2) skipped++;
    }
    int64_t min_bad = -1, bad_comps = 0, bad_comp_states = 0, bad_states = 0;
    if (k >= 0) {
        for (int64_t u = 0; u < n; u++) {
            int32_t cu = c->comp[u];
            if (leaf[cu] != 1) continue;
            if (!rb_event(c, k, RB_STATE(c, u))) {
                if (min_bad < 0) min_bad = u;
                bad_states++;
                if (!bad[cu]) { bad[cu] = 1; bad_comps++; bad_comp_states += size[cu]; }
            }
        }
    }
    out[0] = terminal; out[1] = min_bad; out[2] = min_bad >= 0 ? size[c->comp[min_bad]] : 0;
    out[3] = bad_comps; out[4] = bad_comp_states; out[5] = bad_states; out[6] = skipped;
    free(leaf); free(bad); free(size);
    return c->err ? RB_ERR_STEP : 0;
}
