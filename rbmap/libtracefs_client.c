/*
 * rbmap libtracefs client: the /init of the initramfs that `rbmap kernel client`
 * boots.  It is linked statically against Debian's libtracefs and libtraceevent
 * (the libraries' own archives, libtracefs.a and libtraceevent.a, as the
 * packages ship them) and reads a per-CPU ring buffer through libtracefs's
 * memory-mapped API (tracefs_cpu_open_mapped, tracefs_cpu_read_buf /
 * tracefs_cpu_read, tracefs_cpu_close) while sequence-numbered trace_marker
 * events are written.
 *
 * /client.conf holds one configuration a line:
 *
 *   run NAME key=value ...      free running: a writer process and one or two
 *                               consumer processes, each pinned to a vCPU
 *   script NAME key=value ...   the operations on the following lines, up to
 *                               "end", in one process on CPU 0 (deterministic)
 *
 * Every configuration gets a fresh tracefs instance (trace_clock "counter", so
 * no time-extend event ever changes an event's size) and reads
 * per_cpu/cpu0 of it; markers are "S%08u" padded with 'x' to `len` characters.
 *
 * It prints one JSON object per run (or per script operation) on a console
 * line starting with "RBMAPC ", control lines with "RBMAPC-", then powers off.
 * What the consumers delivered is reported raw (run-length encoded delivery
 * counts per sequence number); the host decides exactly-once delivery and
 * loss accounting from it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kbuffer.h>
#include <tracefs.h>

#define TRACEFS "/sys/kernel/tracing"
#define GET_READER 0x5220 /* _IO('R', 0x20) */
#define MAXSEQ (1 << 20)
#define MAXWORDS 32

/* ---- the libraries were built against a newer C library: its C23 entry points
 * for the scanf/strto* families map onto the older ones here (they differ only
 * in accepting "0b" binary literals, which the libraries never parse). ---- */
long __isoc23_strtol(const char *s, char **e, int b) { return strtol(s, e, b); }
long long __isoc23_strtoll(const char *s, char **e, int b) { return strtoll(s, e, b); }
unsigned long __isoc23_strtoul(const char *s, char **e, int b) { return strtoul(s, e, b); }
unsigned long long __isoc23_strtoull(const char *s, char **e, int b)
{
	return strtoull(s, e, b);
}
int __isoc23_sscanf(const char *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsscanf(s, fmt, ap);
	va_end(ap);
	return r;
}
int __isoc23_fscanf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfscanf(f, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- GET_READER with a writer in front of it.  The library calls ioctl()
 * and this static program's definition is the one it links to: a script's
 * "hook N" makes the library's next GET_READER write N markers first, as a
 * writer on another CPU does when it commits between the library's last load
 * of the sub-buffer's commit and its ioctl (the model's interleaving). ---- */
static int hook_writes, hook_fired;
static void write_markers(long n);

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (req == GET_READER && hook_writes > 0) {
		int n = hook_writes;
		hook_writes = 0;
		write_markers(n);
		hook_fired += n;
	}
	return syscall(SYS_ioctl, fd, req, arg);
}

/* ------------------------------------------------------------ output */
static char line[1 << 16];
static size_t llen;

static void put(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line + llen, sizeof(line) - llen, fmt, ap);
	va_end(ap);
	if (n > 0)
		llen += (size_t)n < sizeof(line) - llen ? (size_t)n : sizeof(line) - llen - 1;
}

static void flush_line(void)
{
	line[llen++] = '\n';
	size_t off = 0;
	while (off < llen) {
		ssize_t w = write(1, line + off, llen - off);
		if (w <= 0)
			break;
		off += w;
	}
	llen = 0;
}

/* ------------------------------------------------------------ configuration */
struct conf {
	char name[64];
	int kb, overwrite, len, reader_cpu, writer_cpu, ms, burst, pause_us, hand_ms, sleep_us;
	int nodata_handoff; /* takeover: hand over only when a call returned no data */
	long max;
	char second[16], mode[16], api[16];
};

static void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->kb = 16;
	c->overwrite = 1;
	c->len = 9;
	c->reader_cpu = 0;
	c->writer_cpu = 0;
	c->ms = 1000;
	c->burst = 64;
	c->pause_us = 2000;
	c->hand_ms = 100;
	c->max = MAXSEQ;
	strcpy(c->second, "none");
	strcpy(c->mode, "interleave");
	strcpy(c->api, "read_buf");
}

static void conf_set(struct conf *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq)
		return;
	size_t kl = eq - kv;
	const char *v = eq + 1;
#define NUM(key, field) \
	if (kl == strlen(key) && !strncmp(kv, key, kl)) { c->field = atol(v); return; }
#define STR(key, field) \
	if (kl == strlen(key) && !strncmp(kv, key, kl)) { \
		snprintf(c->field, sizeof(c->field), "%s", v); return; }
	NUM("kb", kb) NUM("overwrite", overwrite) NUM("len", len)
	NUM("reader_cpu", reader_cpu) NUM("writer_cpu", writer_cpu) NUM("ms", ms)
	NUM("burst", burst) NUM("pause_us", pause_us) NUM("hand_ms", hand_ms)
	NUM("max", max) NUM("sleep_us", sleep_us) NUM("nodata_handoff", nodata_handoff)
	STR("second", second) STR("mode", mode) STR("api", api)
#undef NUM
#undef STR
}

static int split(char *s, char **w)
{
	int n = 0;
	for (char *t = strtok(s, " \t\r\n"); t && n < MAXWORDS; t = strtok(NULL, " \t\r\n"))
		w[n++] = t;
	return n;
}

/* ------------------------------------------------------------ helpers */
static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static char inst_dir[256];

static int inst_write(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", inst_dir, rel);
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -errno;
	int r = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	return r < 0 ? -e : 0;
}

/* the per-CPU stats file of the instance, one value */
static long long stat_value(const char *key)
{
	char path[512], buf[1024];
	snprintf(path, sizeof(path), "%s/per_cpu/cpu0/stats", inst_dir);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	int n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	size_t kl = strlen(key);
	for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, kl) && p[kl] == ':')
			return atoll(p + kl + 1);
	return -1;
}

/* The marker text: "S%08u" then 'x' up to len characters. */
static int marker_text(char *buf, unsigned seq, int len)
{
	int n = snprintf(buf, 16, "S%08u", seq);
	while (n < len)
		buf[n++] = 'x';
	buf[n] = 0;
	return n;
}

/* The sequence number of a trace_marker event's data (struct print_entry:
 * 8-byte trace_entry, 8-byte ip, then the string), or -1. */
static long seq_of(const unsigned char *data, int size)
{
	if (size < 16 + 9 || data[16] != 'S')
		return -1;
	long v = 0;
	for (int i = 17; i < 25; i++) {
		if (data[i] < '0' || data[i] > '9')
			return -1;
		v = v * 10 + (data[i] - '0');
	}
	return v;
}

/* ------------------------------------------------------------ shared state */
enum { K_TRACEFS = 1, K_RAW = 2, K_PIPE = 3 };

struct consumer {
	int kind;
	long calls, data_calls, errors, missed_sum, missed_unknown, missed_reports;
	long opens, foreign;
	unsigned char cnt[MAXSEQ];
};

struct shared {
	volatile long written;     /* sequence numbers attempted */
	volatile long failed;      /* writes the kernel refused (event dropped) */
	volatile int writer_done;
	volatile int stop;         /* readers: drain, then leave */
	volatile int turn;         /* takeover: whose turn it is */
	volatile int handoffs;
	unsigned char fail[MAXSEQ];
	struct consumer c[2];
};

static struct shared *sh;

static void deliver(struct consumer *c, long seq)
{
	if (seq < 0 || seq >= MAXSEQ) {
		c->foreign++;
		return;
	}
	if (c->cnt[seq] < 255)
		c->cnt[seq]++;
}

static void note_missed(struct consumer *c, int missed)
{
	if (!missed)
		return;
	c->missed_reports++;
	if (missed < 0)
		c->missed_unknown++;
	else
		c->missed_sum += missed;
}

/* Iterate a kbuffer the way a libtracefs user does (kbuffer_read_event, then
 * kbuffer_next_event until NULL); returns the events delivered. */
static int drain_kbuf(struct consumer *c, struct kbuffer *kbuf, long *seqs, int max)
{
	int n = 0;
	unsigned long long ts;
	for (void *d = kbuffer_read_event(kbuf, &ts); d; d = kbuffer_next_event(kbuf, &ts)) {
		long s = seq_of(d, kbuffer_event_size(kbuf));
		if (c)
			deliver(c, s);
		if (seqs && n < max)
			seqs[n] = s;
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ libtracefs reader */
struct tfs_reader {
	struct tracefs_cpu *tcpu;
	struct kbuffer *copy;     /* for the tracefs_cpu_read api */
	void *buf;
	void *last_sub;           /* the sub-buffer the last report of missed events was for */
	bool use_read;
};

static struct tracefs_instance *instance;
static uint64_t last_commit_word; /* of the last sub-buffer tracefs_cpu_read copied */

static int tfs_open(struct tfs_reader *r, bool use_read)
{
	memset(r, 0, sizeof(*r));
	r->use_read = use_read;
	r->tcpu = tracefs_cpu_open_mapped(instance, 0, true);
	if (!r->tcpu)
		return -1;
	if (!tracefs_cpu_is_mapped(r->tcpu)) {
		tracefs_cpu_close(r->tcpu);
		r->tcpu = NULL;
		return -2;
	}
	if (use_read) {
		r->buf = malloc(tracefs_cpu_read_size(r->tcpu));
		r->copy = kbuffer_alloc(KBUFFER_LSIZE_8, KBUFFER_ENDIAN_LITTLE);
	}
	return 0;
}

static void tfs_close(struct tfs_reader *r)
{
	if (r->tcpu)
		tracefs_cpu_close(r->tcpu);
	if (r->copy)
		kbuffer_free(r->copy);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* One library call and the iteration of what it returned.  Returns the events
 * delivered, or -1 when the call returned nothing. */
static int tfs_call(struct tfs_reader *r, struct consumer *c, long *seqs, int max, int *missed)
{
	struct kbuffer *kbuf;
	*missed = 0;
	if (c)
		c->calls++;
	if (r->use_read) {
		int ret = tracefs_cpu_read(r->tcpu, r->buf, true);
		if (ret <= 0) {
			if (ret < 0 && errno != EAGAIN && c)
				c->errors++;
			return -1;
		}
		last_commit_word = *(uint64_t *)((char *)r->buf + 8);
		kbuffer_load_subbuffer(r->copy, r->buf);
		kbuf = r->copy;
		*missed = kbuffer_missed_events(kbuf);
	} else {
		/* NULL is "no data" or an error, the library does not say which */
		kbuf = tracefs_cpu_read_buf(r->tcpu, true);
		if (!kbuf)
			return -1;
		/* the first event of a freshly loaded sub-buffer carries the loss */
		void *sub = kbuffer_subbuffer(kbuf);
		if (sub != r->last_sub)
			*missed = kbuffer_missed_events(kbuf);
		r->last_sub = sub;
	}
	if (c)
		note_missed(c, *missed);
	int n = drain_kbuf(c, kbuf, seqs, max);
	if (c && n)
		c->data_calls++;
	return n;
}

/* ------------------------------------------------------------ raw ioctl reader
 * The documented protocol (map, read the reader sub-buffer up to reader.read,
 * GET_READER, a new reader.id is read from offset 0), decoding with kbuffer. */
struct raw_reader {
	int fd;
	unsigned char *meta, *data;
	size_t meta_len, data_len;
	uint32_t subbuf_size, id;
	struct kbuffer *kb;
	bool loaded;
};

static int raw_open(struct raw_reader *r)
{
	char path[512];
	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "%s/per_cpu/cpu0/trace_pipe_raw", inst_dir);
	r->fd = open(path, O_RDONLY | O_NONBLOCK);
	if (r->fd < 0)
		return -1;
	void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, r->fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	r->meta_len = *(uint32_t *)m;
	munmap(m, 4096);
	r->meta = mmap(NULL, r->meta_len, PROT_READ, MAP_SHARED, r->fd, 0);
	if (r->meta == MAP_FAILED)
		goto fail;
	r->subbuf_size = *(uint32_t *)(r->meta + 8);
	r->data_len = (size_t)r->subbuf_size * *(uint32_t *)(r->meta + 12);
	r->data = mmap(NULL, r->data_len, PROT_READ, MAP_SHARED, r->fd, r->meta_len);
	if (r->data == MAP_FAILED) {
		munmap(r->meta, r->meta_len);
		goto fail;
	}
	r->kb = kbuffer_alloc(KBUFFER_LSIZE_8, KBUFFER_ENDIAN_LITTLE);
	/* start at reader.read: what earlier consumers consumed precedes it */
	r->id = *(volatile uint32_t *)(r->meta + 24);
	kbuffer_load_subbuffer(r->kb, r->data + (size_t)r->id * r->subbuf_size);
	uint32_t rd = *(volatile uint32_t *)(r->meta + 28);
	while (kbuffer_read_event(r->kb, NULL) && (uint32_t)kbuffer_curr_index(r->kb) < rd)
		kbuffer_next_event(r->kb, NULL);
	r->loaded = true;
	return 0;
fail:
	close(r->fd);
	return -1;
}

static void raw_close(struct raw_reader *r)
{
	munmap(r->data, r->data_len);
	munmap(r->meta, r->meta_len);
	close(r->fd);
	kbuffer_free(r->kb);
}

/* GET_READER, then deliver up to the new reader.read (a new reader.id from
 * offset 0): at every return it has delivered all the kernel consumed */
static int raw_call(struct raw_reader *r, struct consumer *c)
{
	int n = 0;
	unsigned long long ts;
	c->calls++;
	if (ioctl(r->fd, GET_READER) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			c->errors++;
		return 0;
	}
	uint32_t id = *(volatile uint32_t *)(r->meta + 24);
	uint32_t rd = *(volatile uint32_t *)(r->meta + 28);
	if (id != r->id) {
		r->id = id;
		kbuffer_load_subbuffer(r->kb, r->data + (size_t)id * r->subbuf_size);
		note_missed(c, kbuffer_missed_events(r->kb));
	} else
		kbuffer_refresh(r->kb);
	for (void *d = kbuffer_read_event(r->kb, &ts); d; d = kbuffer_next_event(r->kb, &ts)) {
		if ((uint32_t)kbuffer_curr_index(r->kb) >= rd)
			break;
		deliver(c, seq_of(d, kbuffer_event_size(r->kb)));
		n++;
	}
	if (n)
		c->data_calls++;
	return n;
}

/* ------------------------------------------------------------ text trace_pipe reader */
static int pipe_call(int fd, struct consumer *c)
{
	static char buf[8192];
	c->calls++;
	ssize_t got = read(fd, buf, sizeof(buf) - 1);
	if (got <= 0) {
		if (got < 0 && errno != EAGAIN)
			c->errors++;
		return 0;
	}
	buf[got] = 0;
	int n = 0;
	for (char *p = buf; p && *p;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		char *lost = strstr(p, "[LOST ");
		char *mk = strstr(p, ": S");
		if (lost)
			note_missed(c, atoi(lost + 6));
		else if (mk) {
			long v = 0;
			int i;
			for (i = 3; i < 11 && mk[i] >= '0' && mk[i] <= '9'; i++)
				v = v * 10 + (mk[i] - '0');
			deliver(c, i == 11 ? v : -1);
			n++;
		}
		p = nl ? nl + 1 : NULL;
	}
	if (n)
		c->data_calls++;
	return n;
}

/* ------------------------------------------------------------ processes */
static void writer_proc(const struct conf *cf)
{
	pin(cf->writer_cpu);
	char path[512], text[4200];
	snprintf(path, sizeof(path), "%s/trace_marker", inst_dir);
	int fd = open(path, O_WRONLY);
	long long end = now_ms() + cf->ms;
	long seq = 0;
	long max = cf->max < MAXSEQ ? cf->max : MAXSEQ;
	while (seq < max && now_ms() < end) {
		for (int b = 0; b < cf->burst && seq < max; b++) {
			int n = marker_text(text, seq, cf->len);
			if (write(fd, text, n) <= 0) {
				sh->fail[seq] = 1;
				sh->failed++;
			}
			sh->written = ++seq;
		}
		if (cf->pause_us)
			usleep(cf->pause_us);
	}
	close(fd);
	sh->writer_done = 1;
	_exit(0);
}

static void idle_wait(int cpu_shared)
{
	if (cpu_shared)
		sched_yield();
	else
		usleep(200);
}

/* a consumer process: kind, index, whether it takes turns */
static void consumer_proc(const struct conf *cf, int idx, int kind, bool takeover, int cpu)
{
	pin(cpu);
	struct consumer *c = &sh->c[idx];
	bool use_read = !strcmp(cf->api, "read") && idx == 0;
	int shared_cpu = cpu == cf->writer_cpu;
	int empty_after_stop = 0;
	for (;;) {
		while (takeover && sh->turn != idx) {
			if (sh->stop)
				_exit(0);
			usleep(500);
		}
		/* open */
		struct tfs_reader tr;
		struct raw_reader rr;
		int pfd = -1;
		int rc = 0;
		if (kind == K_TRACEFS)
			rc = tfs_open(&tr, use_read);
		else if (kind == K_RAW)
			rc = raw_open(&rr);
		else {
			char path[512];
			snprintf(path, sizeof(path), "%s/per_cpu/cpu0/trace_pipe", inst_dir);
			pfd = open(path, O_RDONLY | O_NONBLOCK);
			rc = pfd < 0 ? -1 : 0;
		}
		if (rc) {
			c->errors++;
			_exit(3);
		}
		c->opens++;
		for (;;) {
			int stop = sh->stop;
			int n, missed;
			if (kind == K_TRACEFS) {
				n = tfs_call(&tr, c, NULL, 0, &missed);
				if (n < 0)
					n = 0;
			} else if (kind == K_RAW)
				n = raw_call(&rr, c);
			else
				n = pipe_call(pfd, c);
			if (n == 0) {
				if (stop && ++empty_after_stop >= 4)
					break;
				idle_wait(shared_cpu);
			} else {
				empty_after_stop = 0;
				if (cf->sleep_us && !stop)
					usleep(cf->sleep_us); /* a slow consumer */
			}
			if (takeover && sh->turn != idx && (n == 0 || !cf->nodata_handoff))
				break;
		}
		if (kind == K_TRACEFS)
			tfs_close(&tr);
		else if (kind == K_RAW)
			raw_close(&rr);
		else
			close(pfd);
		if (!takeover || sh->stop)
			_exit(0);
		/* hand over at a call boundary, then wait for the next turn */
		sh->handoffs++;
	}
}

static void put_rle(const unsigned char *v, long n)
{
	put("[");
	long i = 0;
	int first = 1;
	while (i < n) {
		long j = i;
		while (j < n && v[j] == v[i])
			j++;
		put("%s[%d,%ld]", first ? "" : ",", v[i], j - i);
		first = 0;
		i = j;
	}
	put("]");
}

static void put_consumer(const char *role, const char *kind, struct consumer *c, long n)
{
	put("{\"role\":\"%s\",\"kind\":\"%s\",\"calls\":%ld,\"data_calls\":%ld,\"errors\":%ld,"
	    "\"opens\":%ld,\"missed_reports\":%ld,\"missed_sum\":%ld,\"missed_unknown\":%ld,"
	    "\"foreign\":%ld,\"counts\":",
	    role, kind, c->calls, c->data_calls, c->errors, c->opens, c->missed_reports,
	    c->missed_sum, c->missed_unknown, c->foreign);
	put_rle(c->cnt, n);
	put("}");
}

/* ------------------------------------------------------------ instance */
static int inst_seq;

static int make_instance(const struct conf *cf, char *name)
{
	snprintf(name, 64, "rbmapc%d", inst_seq++);
	instance = tracefs_instance_create(name);
	if (!instance)
		return -1;
	snprintf(inst_dir, sizeof(inst_dir), TRACEFS "/instances/%s", name);
	char v[32];
	inst_write("tracing_on", "0");
	inst_write("trace_clock", "counter");
	snprintf(v, sizeof(v), "%d", cf->kb);
	if (inst_write("buffer_size_kb", v))
		return -2;
	inst_write("options/overwrite", cf->overwrite ? "1" : "0");
	inst_write("tracing_on", "1");
	return 0;
}

static void drop_instance(void)
{
	inst_write("tracing_on", "0");
	tracefs_instance_destroy(instance);
	tracefs_instance_free(instance);
	instance = NULL;
}

static void put_kernel_counts(void)
{
	put("\"stats\":{\"entries\":%lld,\"overrun\":%lld,\"commit_overrun\":%lld,"
	    "\"dropped_events\":%lld,\"read_events\":%lld}",
	    stat_value("entries"), stat_value("overrun"), stat_value("commit overrun"),
	    stat_value("dropped events"), stat_value("read events"));
	/* the meta page as a new first mapping sees it (rb_update_meta_page) */
	char path[512];
	snprintf(path, sizeof(path), "%s/per_cpu/cpu0/trace_pipe_raw", inst_dir);
	int fd = open(path, O_RDONLY | O_NONBLOCK);
	void *m = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (m != MAP_FAILED) {
		const unsigned char *p = m;
		put(",\"meta\":{\"entries\":%llu,\"overrun\":%llu,\"read\":%llu,"
		    "\"subbuf_size\":%u,\"nr_subbufs\":%u}",
		    (unsigned long long)*(uint64_t *)(p + 40), (unsigned long long)*(uint64_t *)(p + 48),
		    (unsigned long long)*(uint64_t *)(p + 56), *(uint32_t *)(p + 8),
		    *(uint32_t *)(p + 12));
		munmap(m, 4096);
	}
	if (fd >= 0)
		close(fd);
}

/* new /dev/kmsg records of priority <= 4 (warnings) and ring-buffer notices */
static int kmsg_fd = -1;

static void put_kmsg(void)
{
	char rec[2048];
	int first = 1;
	put("\"warnings\":[");
	if (kmsg_fd >= 0) {
		for (;;) {
			ssize_t n = read(kmsg_fd, rec, sizeof(rec) - 1);
			if (n < 0) {
				if (errno == EPIPE)
					continue;
				break;
			}
			rec[n] = 0;
			int prio = atoi(rec) & 7;
			char *msg = strchr(rec, ';');
			/* warnings, and the ring buffer's own notices (6.12's "commit
			 * overrun lost N events" is a pr_info) */
			if (!msg || (prio > 4 && !strstr(msg, "Ring buffer")))
				continue;
			msg++;
			char *nl = strchr(msg, '\n');
			if (nl)
				*nl = 0;
			put("%s\"", first ? "" : ",");
			for (char *q = msg; *q && q - msg < 200; q++)
				put(*q == '"' || *q == '\\' ? "\\%c" : (*q < 32 ? "?" : "%c"), *q);
			put("\"");
			first = 0;
		}
	}
	put("]");
}

static int kind_of(const char *s)
{
	if (!strcmp(s, "tracefs"))
		return K_TRACEFS;
	if (!strcmp(s, "raw"))
		return K_RAW;
	if (!strcmp(s, "pipe"))
		return K_PIPE;
	return 0;
}

static const char *kind_name(int k)
{
	return k == K_TRACEFS ? "libtracefs" : k == K_RAW ? "raw_ioctl" : "trace_pipe";
}

static void run_free(struct conf *cf)
{
	char name[64];
	memset(sh, 0, sizeof(*sh));
	if (make_instance(cf, name)) {
		put("RBMAPC {\"op\":\"run\",\"name\":\"%s\",\"error\":\"instance set-up failed\"}",
		    cf->name);
		flush_line();
		return;
	}
	int second = kind_of(cf->second);
	bool takeover = second && !strcmp(cf->mode, "takeover");
	int other_cpu = cf->reader_cpu == cf->writer_cpu ? 1 - cf->writer_cpu : cf->reader_cpu;
	pid_t pids[3];
	int np = 0;
	sh->c[0].kind = K_TRACEFS;
	sh->c[1].kind = second;
	if ((pids[np++] = fork()) == 0)
		consumer_proc(cf, 0, K_TRACEFS, takeover, cf->reader_cpu);
	if (second && (pids[np++] = fork()) == 0)
		consumer_proc(cf, 1, second, takeover,
			      takeover ? cf->reader_cpu : other_cpu);
	usleep(20000); /* let the readers map before the first marker */
	long long t0 = now_ms();
	if ((pids[np++] = fork()) == 0)
		writer_proc(cf);
	long long next_hand = t0 + cf->hand_ms;
	while (!sh->writer_done) {
		usleep(1000);
		if (takeover && now_ms() >= next_hand) {
			sh->turn = 1 - sh->turn;
			next_hand = now_ms() + cf->hand_ms;
		}
	}
	long long t1 = now_ms();
	usleep(20000);
	sh->stop = 1;
	for (int i = 0; i < np; i++)
		waitpid(pids[i], NULL, 0);
	long n = sh->written;
	put("RBMAPC {\"op\":\"run\",\"name\":\"%s\",\"instance\":\"%s\",\"conf\":{\"kb\":%d,"
	    "\"overwrite\":%d,\"len\":%d,\"reader_cpu\":%d,\"writer_cpu\":%d,\"ms\":%d,"
	    "\"burst\":%d,\"pause_us\":%d,\"second\":\"%s\",\"mode\":\"%s\",\"api\":\"%s\","
	    "\"hand_ms\":%d,\"sleep_us\":%d,\"nodata_handoff\":%d},\"written\":%ld,\"failed\":%ld,\"write_ms\":%lld,\"handoffs\":%d,",
	    cf->name, name, cf->kb, cf->overwrite, cf->len, cf->reader_cpu, cf->writer_cpu,
	    cf->ms, cf->burst, cf->pause_us, cf->second, cf->mode, cf->api, cf->hand_ms,
	    cf->sleep_us, cf->nodata_handoff, n,
	    sh->failed, t1 - t0, sh->handoffs);
	put("\"failed_rle\":");
	put_rle(sh->fail, n);
	put(",\"consumers\":[");
	put_consumer("reader", !strcmp(cf->api, "read") ? "libtracefs-read" : "libtracefs",
		     &sh->c[0], n);
	if (second) {
		put(",");
		put_consumer(takeover ? "takeover" : "second", kind_name(second), &sh->c[1], n);
	}
	put("],");
	put_kernel_counts();
	put(",");
	put_kmsg();
	put("}");
	flush_line();
	drop_instance();
}

/* ------------------------------------------------------------ scripts */
#define MAXR 4
static struct tfs_reader sreaders[MAXR];
static long next_seq;
static int marker_fd = -1;
static int script_len = 9, script_ok;

static void write_markers(long n)
{
	char text[4200];
	for (long i = 0; i < n; i++) {
		int len = marker_text(text, next_seq++, script_len);
		if (write(marker_fd, text, len) > 0)
			script_ok++;
	}
}

static int who_of(const char *w)
{
	return (w[0] >= 'A' && w[0] < 'A' + MAXR) ? w[0] - 'A' : 0;
}

static void put_seqs(const long *seqs, int n)
{
	put("[");
	for (int i = 0; i < n; i++)
		put("%s%ld", i ? "," : "", seqs[i]);
	put("]");
}

static void script_op(struct conf *cf, char **w, int nw, int step)
{
	static long seqs[4096];
	put("RBMAPC {\"op\":\"%s\",\"step\":%d", w[0], step);
	if (!strcmp(w[0], "write")) {
		long n = nw > 1 ? atol(w[1]) : 1;
		script_ok = 0;
		write_markers(n);
		put(",\"n\":%ld,\"ok\":%d", n, script_ok);
	} else if (!strcmp(w[0], "hook")) {
		hook_writes = nw > 1 ? atoi(w[1]) : 1;
		put(",\"n\":%d", hook_writes);
	} else if ((!strcmp(w[0], "open") || !strcmp(w[0], "open_read")) && nw > 1) {
		/* open_read: the reader uses tracefs_cpu_read instead of _read_buf */
		int r = who_of(w[1]);
		put(",\"who\":\"%s\",\"rc\":%d", w[1],
		    tfs_open(&sreaders[r], !strcmp(w[0], "open_read")));
	} else if (!strcmp(w[0], "close") && nw > 1) {
		tfs_close(&sreaders[who_of(w[1])]);
		put(",\"who\":\"%s\"", w[1]);
	} else if ((!strcmp(w[0], "read") || !strcmp(w[0], "drain")) && nw > 1) {
		struct tfs_reader *r = &sreaders[who_of(w[1])];
		int total = 0, calls = 0, missed_total = 0, nodata = 0;
		bool drain = !strcmp(w[0], "drain");
		hook_fired = 0;
		do {
			int missed;
			int n = tfs_call(r, NULL, seqs + total, 4096 - total, &missed);
			calls++;
			if (n < 0) {
				nodata = 1;
				break;
			}
			total += n;
			missed_total += missed;
		} while (drain && calls < 1000);
		put(",\"who\":\"%s\",\"calls\":%d,\"nodata\":%d,\"missed\":%d,", w[1], calls,
		    nodata, missed_total);
		if (hook_fired)
			put("\"hook_wrote\":%d,", hook_fired);
		if (r->use_read) /* the copy's commit word and the count stored after its data */
		{
			size_t at = 16 + (last_commit_word & 0x7ffffff);
			long long cnt = -1;
			if (at + 8 <= (size_t)tracefs_cpu_read_size(r->tcpu))
				memcpy(&cnt, (char *)r->buf + at, 8);
			put("\"commit\":\"%#llx\",\"stored_count\":%lld,",
			    (unsigned long long)last_commit_word, cnt);
		}
		put("\"seqs\":");
		put_seqs(seqs, total);
	} else if (!strcmp(w[0], "stats")) {
		put(",");
		put_kernel_counts();
	} else
		put(",\"error\":\"unknown op\"");
	put("}");
	flush_line();
}

static void run_script(struct conf *cf, FILE *f)
{
	char name[64], buf[512];
	char *w[MAXWORDS];
	int step = 0;
	int ok = make_instance(cf, name) == 0;
	if (ok) {
		char path[512];
		snprintf(path, sizeof(path), "%s/trace_marker", inst_dir);
		marker_fd = open(path, O_WRONLY);
	}
	next_seq = 0;
	script_len = cf->len;
	hook_writes = 0;
	put("RBMAPC {\"op\":\"script\",\"name\":\"%s\",\"instance\":\"%s\",\"ok\":%d}", cf->name,
	    name, ok);
	flush_line();
	while (fgets(buf, sizeof(buf), f)) {
		int nw = split(buf, w);
		if (!nw || w[0][0] == '#')
			continue;
		if (!strcmp(w[0], "end"))
			break;
		if (ok)
			script_op(cf, w, nw, ++step);
	}
	for (int i = 0; i < MAXR; i++)
		tfs_close(&sreaders[i]);
	if (ok) {
		put("RBMAPC {\"op\":\"script_end\",\"name\":\"%s\",", cf->name);
		put_kernel_counts();
		put(",");
		put_kmsg();
		put("}");
		flush_line();
		close(marker_fd);
		drop_instance();
	}
}

int main(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	int con = open("/dev/console", O_WRONLY);
	if (con >= 0) {
		dup2(con, 1);
		dup2(con, 2);
	}
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
	struct utsname u;
	uname(&u);
	put("RBMAPC-UNAME %s", u.release);
	flush_line();
	put("RBMAPC-NCPU %ld", sysconf(_SC_NPROCESSORS_ONLN));
	flush_line();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	FILE *f = fopen("/client.conf", "r");
	char buf[1024];
	char *w[MAXWORDS];
	while (sh != MAP_FAILED && f && fgets(buf, sizeof(buf), f)) {
		int nw = split(buf, w);
		if (nw < 2 || w[0][0] == '#')
			continue;
		struct conf cf;
		conf_defaults(&cf);
		snprintf(cf.name, sizeof(cf.name), "%s", w[1]);
		for (int i = 2; i < nw; i++)
			conf_set(&cf, w[i]);
		pin(0);
		if (!strcmp(w[0], "run"))
			run_free(&cf);
		else if (!strcmp(w[0], "script"))
			run_script(&cf, f);
	}
	put("RBMAPC-END");
	flush_line();
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
