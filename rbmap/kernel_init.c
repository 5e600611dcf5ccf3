/*
 * rbmap guest runner: the /init of the initramfs that `rbmap kernel run` boots.
 *
 * It mounts proc, sysfs, devtmpfs and tracefs, pins itself to CPU 0, then runs
 * every scenario of the files /scn/0.scn, /scn/1.scn, ... (the format of
 * specs/scenarios/FORMAT.md), each in a fresh tracefs instance
 * instances/NAME, against per_cpu/cpu0/trace_pipe_raw.  Each operation prints
 * one JSON object on the console, on a line starting with "RBMAPK ".  Control
 * lines start with "RBMAPK-" (uname, file boundaries, end).  After every
 * operation the new /dev/kmsg records are read and reported in the step's
 * "warn" list: each WARN splat as {"kind":"WARNING","function":F,"message":M,
 * "at":"FILE:LINE"} (M is the text of WARN()/WARN_ONCE(), "" for WARN_ON();
 * the register dump and stack trace, which vary from boot to boot, are left
 * out), each "BUG:" line as {"kind":"BUG",...}, and each ring-buffer log line
 * ("Ring buffer ...", e.g. the commit-overrun pr_info) as {"kind":"info",
 * "message":M}.  Other kernel log lines are ignored.  What the end-of-scenario
 * clean-up prints comes in an extra {"op":"kmsg","warn":[...]} object.  At
 * every scenario start the kernel's WARN_ONCE flags are cleared (debugfs
 * clear_warn_once), so a once-only warning shows in every scenario that hits
 * it.  Finally the machine powers off.
 *
 * Build: gcc -static -O2 -o init kernel_init.c
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define PREFIX "RBMAPK "
#define TRACEFS "/sys/kernel/tracing"
#define GET_READER 0x5220 /* _IO('R', 0x20), TRACE_MMAP_IOCTL_GET_READER */
#define PAGE 4096
#define MAX_MAPS 8
#define MAX_WORDS 16
/* A blocking call the runner makes is interrupted (SIGALRM, EINTR) after this
 * long: nothing else writes while it waits.  It stays well below the ring
 * buffer's time-extend threshold (2^27 ns, about 134 ms), so a wait does not put
 * a time extend before the next event, which would move that event to the next
 * sub-buffer where impl (no wall time) keeps it on this one. */
#define WAIT_MS 20
/* the instance the kernel command line maps onto reserved memory
 * (rbmap.kernel.qemu_command: trace_instance=NAME@rbmap_boot) */
#define BOOT_INSTANCE "rbmap_boot"

/* ---------- output buffers ---------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void vbput(struct sbuf *b, const char *fmt, va_list ap0)
{
	for (;;) {
		va_list ap;
		size_t room = b->cap - b->len;
		va_copy(ap, ap0);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->len += n;
			return;
		}
		b->cap = b->cap * 2 + n + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			_exit(1);
	}
}

static void bput(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vbput(b, fmt, ap);
	va_end(ap);
}

/* a JSON string */
static void bput_str(struct sbuf *b, const char *s)
{
	bput(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			bput(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			bput(b, "\\u%04x", c);
		else
			bput(b, "%c", c);
	}
	bput(b, "\"");
}

/* one JSON object, written with one write() */
static struct sbuf outb;
#define out (outb.p)
#define out_len (outb.len)

static void put(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vbput(&outb, fmt, ap);
	va_end(ap);
}

static void put_str(const char *s)
{
	bput_str(&outb, s);
}

static void flush_line(void)
{
	put("\n");
	size_t done = 0;
	while (done < out_len) {
		ssize_t n = write(1, out + done, out_len - done);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		done += n;
	}
	out_len = 0;
}

static void control(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	put("RBMAPK-%s", buf);
	flush_line();
}

/* ---------- scenario state ---------- */

struct mapping {
	unsigned char *meta;
	size_t meta_len;
	unsigned char *data;
	size_t data_len;
	uint32_t subbuf_size;
	uint32_t nr_subbufs;
};

static char name[128];
static char inst[256];
#define MAX_FDS 8
static int fds[MAX_FDS]; /* open trace_pipe_raw fds; the last is the current one */
static int nfds;
static int raw_pos[MAX_FDS]; /* bytes read() into the current sub-buffer, per fd */
#define fd (nfds ? fds[nfds - 1] : -1)
static int marker_fd = -1;
static struct mapping maps[MAX_MAPS];
static int nmaps;
static int step;
static int kmsg_fd = -1;
static int pipe_fd = -1; /* per_cpu/cpu0/trace_pipe, opened by the first read_pipe */

static void __attribute__((unused)) on_alarm(int sig)
{
	(void)sig;
}

/* arm (ms > 0) or disarm (0) the SIGALRM that ends a blocking call; it repeats
 * every ms, so a call that starts only after the first one fired (a busy host)
 * is still interrupted */
static void wait_timer(int ms)
{
	struct itimerval t;
	memset(&t, 0, sizeof(t));
	t.it_value.tv_sec = t.it_interval.tv_sec = ms / 1000;
	t.it_value.tv_usec = t.it_interval.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &t, NULL);
}

/*
 * Reads of the mapped memory go through copy_guarded(): a fault there is reported
 * (rc -EFAULT and "signal", as FORMAT.md says) instead of killing init, which
 * would panic the kernel and lose the whole boot.
 */
static sigjmp_buf fault_jb;
static volatile sig_atomic_t fault_armed;
static int fault_sig; /* the signal of the current operation's faulting read, or 0 */

static void on_fault(int sig)
{
	if (fault_armed)
		siglongjmp(fault_jb, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int copy_guarded(void *dst, const void *src, size_t n)
{
	int sig = sigsetjmp(fault_jb, 1);
	if (sig) {
		fault_armed = 0;
		fault_sig = sig;
		return -EFAULT;
	}
	fault_armed = 1;
	memcpy(dst, src, n);
	fault_armed = 0;
	return 0;
}

static int neg(void)
{
	return -errno;
}

static int write_file(const char *rel, const char *text, int trunc)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", inst, rel);
	int f = open(path, O_WRONLY | (trunc ? O_TRUNC : 0));
	if (f < 0)
		return neg();
	int rc = 0;
	size_t len = strlen(text);
	if (len) {
		ssize_t n = write(f, text, len);
		if (n < 0)
			rc = neg();
	}
	close(f);
	return rc;
}

/* the file's contents as an integer, or -1 */
static long long read_value(const char *rel)
{
	char path[512], buf[64];
	snprintf(path, sizeof(path), "%s/%s", inst, rel);
	int f = open(path, O_RDONLY);
	if (f < 0)
		return -1;
	ssize_t n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *end;
	long long v = strtoll(buf, &end, 10);
	if (end == buf)
		return -1;
	return v;
}

static unsigned long long num(const char *s, int *ok)
{
	char *end;
	unsigned long long v;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		v = strtoull(s + 2, &end, 16);
	else
		v = strtoull(s, &end, 10);
	if (errno || *end || end == s)
		*ok = 0;
	return v;
}

static uint32_t rd32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static struct mapping *cur_map(void)
{
	return nmaps ? &maps[nmaps - 1] : NULL;
}

static void put_meta(const unsigned char *m)
{
	put(",\"meta\":{\"meta_page_size\":%u,\"meta_struct_len\":%u,"
	    "\"subbuf_size\":%u,\"nr_subbufs\":%u,"
	    "\"reader\":{\"lost_events\":%llu,\"id\":%u,\"read\":%u},"
	    "\"flags\":%llu,\"entries\":%llu,\"overrun\":%llu,\"read\":%llu}",
	    rd32(m + 0), rd32(m + 4), rd32(m + 8), rd32(m + 12),
	    (unsigned long long)rd64(m + 16), rd32(m + 24), rd32(m + 28),
	    (unsigned long long)rd64(m + 32), (unsigned long long)rd64(m + 40),
	    (unsigned long long)rd64(m + 48), (unsigned long long)rd64(m + 56));
}

/*
 * Decode a sub-buffer: u64 time_stamp, long commit, data.  `id` < 0 prints
 * null (a page copied by read()).  `len` bounds what may be looked at.
 */
static void put_page(const unsigned char *p, size_t len, long id)
{
	int64_t commit = (int64_t)rd64(p + 8);
	uint64_t size = (uint64_t)commit & 0x3FFFFFFF;
	int missed = (commit >> 31) & 1;
	int stored = (commit >> 30) & 1;
	size_t cap = len - 16;
	const unsigned char *data = p + 16;

	if (id < 0)
		put(",\"page\":{\"id\":null");
	else
		put(",\"page\":{\"id\":%ld", id);
	put(",\"commit\":%llu,\"missed_events\":%s,\"missed_stored\":%s,\"lost\":",
	    (unsigned long long)size, missed ? "true" : "false",
	    stored ? "true" : "false");
	if (stored && size + 8 <= cap)
		put("%llu", (unsigned long long)rd64(data + size));
	else
		put("null");
	put(",\"events\":[");
	/* the checks and messages of impl's decoder (FORMAT.md: `error` only on a
	 * page whose bytes are inconsistent) */
	char err[160] = "";
	size_t limit = size < cap ? size : cap;
	if (stored && size + 8 > cap)
		snprintf(err, sizeof(err), "lost count at %llu lies outside the %zu data bytes",
			 (unsigned long long)size, cap);
	if (limit < size && !err[0])
		snprintf(err, sizeof(err), "commit %llu exceeds the %zu data bytes",
			 (unsigned long long)size, cap);
	size_t off = 0;
	int first = 1;
	while (off < limit) {
		const char *type = "data";
		size_t elen = 0;
		char problem[160] = "";
		if (off + 4 > limit) {
			snprintf(problem, sizeof(problem),
				 "event header at %zu runs past the commit (%zu)", off, limit);
		} else {
			uint32_t h = rd32(data + off);
			unsigned type_len = h & 31, delta = h >> 5;
			if (type_len == 29 && delta == 0) {
				type = "padding"; /* the rest of the page is unused */
				elen = limit - off;
			} else if (type_len == 30 || type_len == 31) {
				type = type_len == 30 ? "time_extend" : "time_stamp";
				elen = 8;
				if (off + 8 > limit)
					snprintf(problem, sizeof(problem),
						 "time event at %zu runs past the commit (%zu)", off, limit);
			} else if (type_len == 0 || type_len == 29) {
				if (type_len == 29)
					type = "padding";
				if (off + 8 > limit)
					snprintf(problem, sizeof(problem),
						 "event at %zu has no room for its length word", off);
				else
					elen = (size_t)rd32(data + off + 4) + 4;
			} else {
				elen = 4 + 4 * (size_t)type_len;
			}
			if (!problem[0] && (elen < 8 || elen % 4) && !(type_len == 29 && delta == 0))
				snprintf(problem, sizeof(problem), "event at %zu has a bad length %zu",
					 off, elen);
			else if (!problem[0] && off + elen > limit)
				snprintf(problem, sizeof(problem),
					 "event at %zu (length %zu) runs past the commit (%zu)", off, elen,
					 limit);
		}
		if (problem[0]) {
			if (!err[0])
				snprintf(err, sizeof(err), "%s", problem);
			break;
		}
		put("%s{\"offset\":%zu,\"type\":\"%s\",\"length\":%zu}",
		    first ? "" : ",", off, type, elen);
		first = 0;
		off += elen;
	}
	put("]");
	if (err[0]) {
		put(",\"error\":");
		put_str(err);
	}
	put("}");
}

/*
 * What a read of trace_pipe returned (FORMAT.md, read_pipe): the byte length of
 * every newline-terminated line, the bytes after the last newline, and the
 * counts of the "CPU:N [LOST n EVENTS]" lines.
 */
static void put_pipe(const char *buf, int len)
{
	int start = 0, first = 1;
	put(",\"pipe\":{\"lines\":[");
	for (int i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		put("%s%d", first ? "" : ",", i + 1 - start);
		first = 0;
		start = i + 1;
	}
	put("],\"partial\":%d,\"lost\":[", len - start);
	first = 1;
	start = 0;
	for (int i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		char line[128];
		int n = i - start;
		if (n < (int)sizeof(line)) {
			memcpy(line, buf + start, n);
			line[n] = 0;
			int cpu, used = 0;
			unsigned long lost;
			if (sscanf(line, "CPU:%d [LOST %lu EVENTS]%n", &cpu, &lost, &used) == 2 &&
			    used == n) {
				put("%s%lu", first ? "" : ",", lost);
				first = 0;
			}
		}
		start = i + 1;
	}
	put("]}");
}

static void unmap_one(struct mapping *m)
{
	if (m->data)
		munmap(m->data, m->data_len);
	if (m->meta)
		munmap(m->meta, m->meta_len);
	memset(m, 0, sizeof(*m));
}

/* `map`: meta area at 0, then all sub-buffers after it. */
static int do_map(void)
{
	if (nmaps == MAX_MAPS)
		return -ENOMEM;
	struct mapping m = {0};
	unsigned char *probe = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (probe == MAP_FAILED)
		return neg();
	unsigned char head[16];
	if (copy_guarded(head, probe, sizeof(head))) {
		munmap(probe, PAGE);
		return -EFAULT;
	}
	uint32_t meta_size = rd32(head + 0);
	m.subbuf_size = rd32(head + 8);
	m.nr_subbufs = rd32(head + 12);
	if (meta_size > PAGE) {
		/* as libtracefs does: drop the probe, map the whole meta area */
		munmap(probe, PAGE);
		m.meta = mmap(NULL, meta_size, PROT_READ, MAP_SHARED, fd, 0);
		if (m.meta == MAP_FAILED)
			return neg();
	} else {
		m.meta = probe;
	}
	m.meta_len = meta_size;
	m.data_len = (size_t)m.subbuf_size * m.nr_subbufs;
	m.data = mmap(NULL, m.data_len, PROT_READ, MAP_SHARED, fd, meta_size);
	if (m.data == MAP_FAILED) {
		int err = neg();
		m.data = NULL;
		unmap_one(&m);
		return err;
	}
	maps[nmaps++] = m;
	return 0;
}

static int do_unmap(void)
{
	struct mapping *m = cur_map();
	if (!m)
		return -EINVAL; /* FORMAT.md: munmap of nothing (length 0) */
	int rc = 0;
	if (m->data && munmap(m->data, m->data_len))
		rc = neg();
	if (m->meta && munmap(m->meta, m->meta_len) && !rc)
		rc = neg();
	memset(m, 0, sizeof(*m));
	nmaps--;
	return rc;
}

static int guarded_ioctl(unsigned long cmd)
{
	wait_timer(WAIT_MS);
	/* a NULL argument: a command the VFS answers itself (FIBMAP = 1, ...)
	 * must not write into this process through a stray pointer */
	int rc = ioctl(fd, cmd, NULL);
	rc = rc < 0 ? neg() : rc;
	wait_timer(0);
	return rc;
}

/* the kmsg entries read since the last call, as JSON objects joined by commas */
static struct sbuf kb;
static int kbuf_n;
#define kbuf (kb.p)
#define kput(...) bput(&kb, __VA_ARGS__)
#define kput_str(s) bput_str(&kb, s)

/*
 * "WARNING: CPU: 0 PID: 1 at kernel/trace/trace.c:8245 tracing_buffers_mmap_close+0x55/0x70"
 * -> function "tracing_buffers_mmap_close", at "kernel/trace/trace.c:8245"
 */
static void kput_warning(const char *line, const char *message)
{
	char at[256] = "", func[256] = "";
	const char *p = strstr(line, " at ");
	if (p) {
		p += 4;
		const char *sp = strchr(p, ' ');
		size_t n = sp ? (size_t)(sp - p) : strlen(p);
		if (n >= sizeof(at))
			n = sizeof(at) - 1;
		memcpy(at, p, n);
		at[n] = 0;
		if (sp) {
			snprintf(func, sizeof(func), "%s", sp + 1);
			char *plus = strchr(func, '+');
			if (plus)
				*plus = 0;
		}
	}
	kput("%s{\"kind\":\"WARNING\",\"function\":", kbuf_n ? "," : "");
	kput_str(func);
	kput(",\"message\":");
	kput_str(message);
	kput(",\"at\":");
	kput_str(at);
	kput("}");
	kbuf_n++;
}

/* Read the new /dev/kmsg records into kbuf (kbuf_n entries). */
static void read_kmsg(void)
{
	char rec[8192];
	static int in_splat, after_warning;
	static char message[1024];
	kb.len = 0;
	kbuf_n = 0;
	kput("%s", "");
	if (kmsg_fd < 0)
		return;
	for (;;) {
		ssize_t n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EPIPE) /* overwritten records: go on */
				continue;
			break;
		}
		if (n == 0)
			break;
		rec[n] = 0;
		char *msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		char *nl = strchr(msg, '\n');
		if (nl)
			*nl = 0;
		/* a WARN splat: "cut here", the WARN() message if any, the WARNING
		 * line, then a register dump and a stack trace up to "end trace" */
		if (strstr(msg, "[ cut here ]")) {
			in_splat = 1;
			after_warning = 0;
			message[0] = 0;
			continue;
		}
		if (in_splat) {
			if (strstr(msg, "---[ end trace")) {
				in_splat = 0;
				continue;
			}
			if (after_warning)
				continue;
			if (strncmp(msg, "WARNING:", 8) == 0) {
				kput_warning(msg, message);
				after_warning = 1;
			} else if (!message[0]) {
				snprintf(message, sizeof(message), "%s", msg);
			}
			continue;
		}
		if (strncmp(msg, "WARNING:", 8) == 0) { /* a splat without "cut here" */
			kput_warning(msg, "");
			continue;
		}
		if (strncmp(msg, "BUG:", 4) == 0 || strncmp(msg, "Ring buffer", 11) == 0) {
			int bug = msg[0] == 'B';
			kput("%s{\"kind\":\"%s\",\"message\":", kbuf_n ? "," : "",
			     bug ? "BUG" : "info");
			kput_str(bug ? msg + 5 : msg);
			kput("}");
			kbuf_n++;
		}
	}
}

static void end_scenario(void)
{
	if (!name[0])
		return;
	while (nmaps)
		do_unmap();
	while (nfds)
		close(fds[--nfds]);
	if (marker_fd >= 0)
		close(marker_fd);
	marker_fd = -1;
	if (pipe_fd >= 0)
		close(pipe_fd);
	pipe_fd = -1;
	if (rmdir(inst))
		control("WARN rmdir %s: %s", inst, strerror(errno));
	read_kmsg();
	if (kbuf_n) {
		put(PREFIX "{\"scenario\":");
		put_str(name);
		put(",\"op\":\"kmsg\",\"warn\":[%s]}", kbuf);
		flush_line();
	}
	name[0] = 0;
}

static int begin_scenario(const char *n)
{
	end_scenario();
	snprintf(name, sizeof(name), "%s", n);
	snprintf(inst, sizeof(inst), TRACEFS "/instances/%s", n);
	step = 0;
	/* WARN_ONCE sites warn again in this scenario */
	int cw = open("/sys/kernel/debug/clear_warn_once", O_WRONLY);
	if (cw >= 0) {
		if (write(cw, "1", 1) < 0)
			control("WARN clear_warn_once: %s", strerror(errno));
		close(cw);
	}
	if (mkdir(inst, 0755))
		return neg();
	int rc = write_file("buffer_subbuf_size_kb", "4", 0);
	if (!rc)
		rc = write_file("per_cpu/cpu0/buffer_size_kb", "16", 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/trace_marker", inst);
	marker_fd = open(path, O_WRONLY);
	if (marker_fd < 0 && !rc)
		rc = neg();
	return rc;
}

/* ---------- one operation ---------- */

static void run_op(char **w, int nw)
{
	const char *op = w[0];
	int ok = 1, rc = 0;
	long long value = -2;
	int with_meta = 0, child_mapped = -1;
	long tail_from = -1, tail_bytes = 0, tail_nonzero = 0;
	unsigned char metabuf[80];
	unsigned char *pagebuf = NULL;

	fault_sig = 0;
	const unsigned char *page = NULL;
	size_t page_len = 0;
	long page_id = -1;
	unsigned char *rawbuf = NULL;
	char *pipebuf = NULL;
	int with_pipe = 0;

	if (strcmp(op, "scenario") == 0) {
		rc = nw == 2 ? begin_scenario(w[1]) : -EINVAL;
	} else if (!name[0]) {
		rc = -EINVAL;
	} else if (!nfds && (!strcmp(op, "close") || !strcmp(op, "map") ||
			     !strcmp(op, "ioctl") || !strcmp(op, "ioctl_raw") ||
			     !strcmp(op, "read_raw") || !strcmp(op, "trymap"))) {
		rc = -EBADF; /* FORMAT.md: no system call without an open fd */
	} else if (!strcmp(op, "buffer_size_kb") || !strcmp(op, "resize_kb") ||
		   !strcmp(op, "subbuf_size_kb") || !strcmp(op, "subbuf_resize_kb")) {
		const char *file = strstr(op, "subbuf") ? "buffer_subbuf_size_kb"
							: "per_cpu/cpu0/buffer_size_kb";
		if (nw != 2)
			ok = 0;
		else {
			/* FORMAT.md numbers may be hex; tracefs takes decimal */
			char dec[32];
			snprintf(dec, sizeof(dec), "%llu", num(w[1], &ok));
			if (ok)
				rc = write_file(file, dec, 0);
			value = read_value(file);
		}
	} else if (!strcmp(op, "open")) {
		int flags = O_RDONLY;
		for (int i = 1; i < nw; i++) {
			if (!strcmp(w[i], "nonblock"))
				flags |= O_NONBLOCK;
			else if (!strcmp(w[i], "rdwr"))
				flags = (flags & ~O_ACCMODE) | O_RDWR;
			else
				ok = 0;
		}
		/* FORMAT.md: one fd; `open` closes the current one first */
		while (ok && nfds)
			close(fds[--nfds]);
		if (ok) {
			char path[512];
			snprintf(path, sizeof(path), "%s/per_cpu/cpu0/trace_pipe_raw", inst);
			int f = open(path, flags);
			rc = f < 0 ? neg() : 0;
			if (f >= 0) {
				raw_pos[nfds] = 0;
				fds[nfds++] = f;
			}
		}
	} else if (!strcmp(op, "close")) {
		if (!nfds)
			rc = -EBADF;
		else
			rc = close(fds[--nfds]) ? neg() : 0;
	} else if (!strcmp(op, "markers")) {
		unsigned long long n = nw > 1 ? num(w[1], &ok) : 0;
		unsigned long long len = nw > 2 ? num(w[2], &ok) : 8;
		if (nw < 2 || nw > 3 || len > 8192)
			ok = 0;
		if (ok) {
			static char text[8192];
			for (unsigned long long i = 0; i < len; i++)
				text[i] = 'a' + (i % 26);
			for (unsigned long long i = 0; i < n && !rc; i++)
				if (write(marker_fd, text, len) < 0)
					rc = neg();
		}
	} else if (!strcmp(op, "map")) {
		rc = do_map();
		with_meta = !rc;
	} else if (!strcmp(op, "unmap")) {
		rc = do_unmap();
	} else if (!strcmp(op, "ioctl")) {
		rc = guarded_ioctl(GET_READER);
		with_meta = !rc && cur_map();
	} else if (!strcmp(op, "ioctl_raw")) {
		unsigned long long cmd = nw == 2 ? num(w[1], &ok) : (ok = 0);
		if (ok)
			rc = guarded_ioctl(cmd);
	} else if (!strcmp(op, "meta")) {
		if (!cur_map())
			rc = -EFAULT;
		else
			with_meta = 1;
	} else if (!strcmp(op, "meta_tail")) {
		/* the meta area after struct trace_buffer_meta, up to meta_page_size */
		struct mapping *m = cur_map();
		unsigned char hdr[8];
		if (!m || copy_guarded(hdr, m->meta, sizeof(hdr))) {
			rc = -EFAULT;
		} else {
			uint32_t size = rd32(hdr + 0), from = rd32(hdr + 4);
			if (size > m->meta_len)
				size = m->meta_len;
			tail_from = from;
			if (size > from) {
				unsigned char *t = malloc(size - from);
				if (!t || copy_guarded(t, m->meta + from, size - from)) {
					rc = -EFAULT;
					tail_from = -1;
				} else {
					tail_bytes = size - from;
					for (long i = 0; i < tail_bytes; i++)
						tail_nonzero += t[i] != 0;
				}
				free(t);
			}
		}
	} else if (!strcmp(op, "page")) {
		struct mapping *m = cur_map();
		if (nw > 2)
			ok = 0;
		else if (!m)
			rc = -EFAULT;
		else {
			unsigned char idb[4] = {0};
			unsigned long long id = nw == 2 ? num(w[1], &ok) : 0;
			if (nw == 1 && !copy_guarded(idb, m->meta + 24, 4))
				id = rd32(idb);
			if (!fault_sig && ok && id >= m->nr_subbufs)
				rc = -EINVAL;
			else if (!fault_sig && ok) {
				page = m->data + (size_t)id * m->subbuf_size;
				page_len = m->subbuf_size;
				page_id = (long)id;
			}
		}
	} else if (!strcmp(op, "read_raw")) {
		unsigned long long n = nw == 2 ? num(w[1], &ok) : (ok = 0);
		if (ok && n > (1u << 20))
			ok = 0;
		if (ok) {
			rawbuf = calloc(1, n + 16);
			wait_timer(WAIT_MS);
			ssize_t got = read(fd, rawbuf, n);
			rc = got < 0 ? neg() : (int)got;
			wait_timer(0);
			/* a read that starts a sub-buffer shows its header: decode it */
			if (rc >= 16 && nfds && raw_pos[nfds - 1] == 0) {
				page = rawbuf;
				page_len = rc;
				page_id = -1;
			}
			if (rc > 0 && nfds) {
				long long kb = read_value("buffer_subbuf_size_kb");
				long size = kb > 0 ? kb * 1024 : PAGE;
				raw_pos[nfds - 1] = (raw_pos[nfds - 1] + rc) % size;
			}
		}
	} else if (!strcmp(op, "read_pipe")) {
		unsigned long long n = nw == 2 ? num(w[1], &ok) : (ok = 0);
		if (ok && n > (1u << 20))
			ok = 0;
		if (ok && pipe_fd < 0) {
			char path[512];
			snprintf(path, sizeof(path), "%s/per_cpu/cpu0/trace_pipe", inst);
			pipe_fd = open(path, O_RDONLY | O_NONBLOCK);
			if (pipe_fd < 0)
				rc = neg();
		}
		if (ok && pipe_fd >= 0) {
			pipebuf = calloc(1, n + 1);
			wait_timer(WAIT_MS);
			ssize_t got = read(pipe_fd, pipebuf, n);
			rc = got < 0 ? neg() : (int)got;
			wait_timer(0);
			with_pipe = rc >= 0;
		}
	} else if (!strcmp(op, "trymap") || !strcmp(op, "trymap_cpu1") ||
		   !strcmp(op, "trymap_boot")) {
		if (nw != 5)
			ok = 0;
		else {
			unsigned long long len = num(w[1], &ok), off = num(w[2], &ok);
			int prot = !strcmp(w[3], "r")	 ? PROT_READ
				   : !strcmp(w[3], "rw") ? PROT_READ | PROT_WRITE
				   : !strcmp(w[3], "rx") ? PROT_READ | PROT_EXEC
							 : (ok = 0);
			int flags = !strcmp(w[4], "shared")	 ? MAP_SHARED
				    : !strcmp(w[4], "private") ? MAP_PRIVATE
							       : (ok = 0);
			/* trymap_cpu1: per_cpu/cpu1 of this instance (CPU 1 is possible,
			 * offline since before the instance: main()); trymap_boot: cpu0 of the
			 * boot-mapped instance BOOT_INSTANCE (kernel command line) */
			int tfd = fd;
			if (ok && strcmp(op, "trymap")) {
				char path[512];
				if (!strcmp(op, "trymap_cpu1"))
					snprintf(path, sizeof(path),
						 "%s/per_cpu/cpu1/trace_pipe_raw", inst);
				else
					snprintf(path, sizeof(path), TRACEFS "/instances/"
						 BOOT_INSTANCE "/per_cpu/cpu0/trace_pipe_raw");
				tfd = open(path, O_RDONLY | O_NONBLOCK);
				if (tfd < 0) {
					rc = neg();
					ok = 2; /* ran; nothing more to do */
				}
			}
			if (ok == 1) {
				void *p = mmap(NULL, len, prot, flags, tfd, off);
				if (p == MAP_FAILED)
					rc = neg();
				else
					rc = munmap(p, len) ? neg() : 0;
			}
			if (tfd != fd && tfd >= 0)
				close(tfd);
		}
	} else if (!strcmp(op, "snapshot")) {
		rc = write_file("snapshot", "1", 0);
	} else if (!strcmp(op, "snapshot_trigger")) {
		if (nw != 2 || (strcmp(w[1], "on") && strcmp(w[1], "off")))
			ok = 0;
		else
			rc = write_file("events/sched/sched_switch/trigger",
					strcmp(w[1], "on") ? "!snapshot" : "snapshot", 0);
	} else if (!strcmp(op, "reset")) {
		rc = write_file("trace", "", 1);
	} else if (!strcmp(op, "partial_munmap")) {
		struct mapping *m = cur_map();
		rc = !m ? -EFAULT : munmap(m->data, PAGE) ? neg() : 0;
	} else if (!strcmp(op, "mprotect_write")) {
		struct mapping *m = cur_map();
		rc = !m ? -EFAULT : mprotect(m->meta, m->meta_len, PROT_READ | PROT_WRITE) ? neg() : 0;
	} else if (!strcmp(op, "mremap_grow")) {
		struct mapping *m = cur_map();
		if (!m)
			rc = -EFAULT;
		else {
			void *p = mremap(m->meta, m->meta_len, m->meta_len + PAGE, MREMAP_MAYMOVE);
			if (p == MAP_FAILED)
				rc = neg();
			else {
				m->meta = p; /* grew after all: keep the bigger one */
				m->meta_len += PAGE;
			}
		}
	} else if (!strcmp(op, "fork") || !strcmp(op, "dofork_fork")) {
		struct mapping *m = cur_map();
		int dofork = !strcmp(op, "dofork_fork");
		if (!m && dofork)
			rc = -EFAULT;
		else if (dofork && madvise(m->meta, m->meta_len, MADV_DOFORK))
			rc = neg();
		else {
			pid_t pid = fork();
			if (pid == 0) {
				signal(SIGSEGV, SIG_DFL); /* the child reports by its exit */
				signal(SIGBUS, SIG_DFL);
				if (!m) /* nothing mapped: nothing to see */
					_exit(1);
				volatile unsigned char c = m->meta[0];
				(void)c;
				_exit(0);
			}
			if (pid < 0)
				rc = neg();
			else {
				int status = 0;
				while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
					;
				if (!dofork)
					child_mapped = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			}
		}
	} else {
		ok = 0;
	}

	if (!ok)
		rc = -EINVAL;
	/* copy what is shown out of the mapping first: a fault there is the result */
	if (with_meta && copy_guarded(metabuf, cur_map()->meta, sizeof(metabuf)))
		with_meta = 0;
	if (page && page != rawbuf) {
		pagebuf = malloc(page_len);
		page = copy_guarded(pagebuf, page, page_len) ? NULL : pagebuf;
	}
	if (fault_sig)
		rc = -EFAULT;
	step++; /* the scenario line itself is step 1 */
	put(PREFIX "{\"step\":%d,\"scenario\":", step);
	put_str(name);
	put(",\"op\":");
	put_str(op);
	put(",\"args\":[");
	for (int i = 1; i < nw; i++) {
		put(i > 1 ? "," : "");
		put_str(w[i]);
	}
	put("],\"rc\":%d", rc);
	if (!ok)
		put(",\"error\":\"bad arguments or unknown op\"");
	if (value != -2)
		put(",\"value\":%lld", value);
	if (with_meta)
		put_meta(metabuf);
	if (page)
		put_page(page, page_len, page_id);
	if (tail_from >= 0)
		put(",\"tail\":{\"from\":%ld,\"bytes\":%ld,\"nonzero\":%ld}",
		    tail_from, tail_bytes, tail_nonzero);
	if (child_mapped >= 0)
		put(",\"child_mapped\":%s", child_mapped ? "true" : "false");
	if (fault_sig)
		put(",\"signal\":\"%s\"", fault_sig == SIGBUS ? "SIGBUS" : fault_sig == SIGSEGV ? "SIGSEGV" : "other");
	if (with_pipe)
		put_pipe(pipebuf, rc);
	read_kmsg();
	put(",\"warn\":[%s]}", kbuf);
	flush_line();
	free(rawbuf);
	free(pagebuf);
	free(pipebuf);
}

static void __attribute__((unused)) run_file(const char *path)
{
	int f = open(path, O_RDONLY);
	if (f < 0)
		return;
	struct stat st;
	fstat(f, &st);
	char *text = calloc(1, st.st_size + 2);
	ssize_t got = 0;
	while (got < st.st_size) {
		ssize_t n = read(f, text + got, st.st_size - got);
		if (n <= 0)
			break;
		got += n;
	}
	close(f);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *w[MAX_WORDS];
		int nw = 0;
		char *s2 = NULL;
		for (char *t = strtok_r(line, " \t\r", &s2); t && nw < MAX_WORDS;
		     t = strtok_r(NULL, " \t\r", &s2))
			w[nw++] = t;
		if (nw)
			run_op(w, nw);
	}
	end_scenario();
	free(text);
}

#ifdef RBMAP_SELFTEST
/*
 * Host-side check of the decoder and the fault guard (tests/test_kernel_unit.py):
 * stdin holds pages as "<u32 length><bytes>" records; each is decoded as a page
 * (id = its index) and printed as one JSON line; then a read of a PROT_NONE page
 * goes through copy_guarded() and the signal is printed.
 */
int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	unsigned char lenb[4];
	for (long i = 0; fread(lenb, 1, 4, stdin) == 4; i++) {
		uint32_t n = rd32(lenb);
		unsigned char *buf = calloc(1, n + 1);
		if (fread(buf, 1, n, stdin) != n)
			return 1;
		put("{\"op\":\"page\"");
		put_page(buf, n, i);
		put("}");
		flush_line();
		free(buf);
	}
	unsigned char *none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char dst[8];
	int rc = copy_guarded(dst, none, sizeof(dst));
	printf("guard %d %s\n", rc, fault_sig == SIGSEGV ? "SIGSEGV" : "none");
	return 0;
}
#else
int main(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) && errno != EBUSY)
		control("WARN mount tracefs: %s", strerror(errno));
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		control("WARN sched_setaffinity: %s", strerror(errno));
	/* CPU 1 goes offline before any instance exists: it stays possible (tracefs
	 * has per_cpu/cpu1) and no ring buffer made from now on has a cpu_buffer for
	 * it (trymap_cpu1).  QEMU's ACPI tables offer no hotplug CPU
	 * (-smp 1,maxcpus=2 gives one possible CPU), so the guest boots with two. */
	int on = open("/sys/devices/system/cpu/cpu1/online", O_WRONLY);
	if (on < 0 || write(on, "0", 1) != 1)
		control("WARN cpu1 offline: %s", strerror(errno));
	if (on >= 0)
		close(on);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: a blocked call returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_fault;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);

	struct utsname u;
	uname(&u);
	control("UNAME %s", u.release);
	for (int i = 0;; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/scn/%d.scn", i);
		if (access(path, R_OK))
			break;
		control("FILE %d", i);
		run_file(path);
	}
	control("END");
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
#endif
