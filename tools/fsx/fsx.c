// SPDX-License-Identifier: MIT
/*
 * daxfs-fsx - random file operations checked against an in-memory model.
 *
 * Every operation is first fully decided (by the random generator or read
 * from a replay file), then logged, then executed on the file and applied
 * to the model.  Reads compare what the filesystem returns with the model;
 * the whole file is compared periodically, on reopen and at the end.
 *
 * Operations are grouped into classes (what -x names and what gets
 * disabled when the filesystem lacks a feature); each class has a weight
 * and a generator, each opcode an executor.  Filesystem-specific classes
 * (daxfs direct-access ops) slot into the same tables with CF_DAXFS.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <daxfs/daxfs_ioctl.h>

#include "fsx.h"

struct fsx fx = {
    .numops = 10000,
    .maxlen = 256 * 1024,
    .maxoplen = 64 * 1024,
    .ralign = 1,
    .walign = 1,
    .talign = 1,
    .nproc = 1,
    .fd = -1,
    .scratch_fd = -1,
    .strict_holes = -1,
    .hold_maps = 2,
};

static enum run_result run_read(const struct op *op);
static enum run_result run_write(const struct op *op);
static enum run_result run_mapread(const struct op *op);
static enum run_result run_mapwrite(const struct op *op);
static enum run_result run_truncate(const struct op *op);
static enum run_result run_falloc(const struct op *op);
static enum run_result run_shift(const struct op *op);
static enum run_result run_copy(const struct op *op);
static enum run_result run_seek(const struct op *op);
static enum run_result run_fsync(const struct op *op);
static enum run_result run_reopen(const struct op *op);

const struct opcode_desc opcodes[NR_OPCODES] = {
    [OP_READ] = {"read", C_READ, A_RANGE, run_read},
    [OP_WRITE] = {"write", C_WRITE, A_RANGE, run_write},
    [OP_MAPREAD] = {"mapread", C_MAPREAD, A_RANGE, run_mapread},
    [OP_MAPWRITE] = {"mapwrite", C_MAPWRITE, A_RANGE, run_mapwrite},
    [OP_TRUNCATE] = {"truncate", C_TRUNCATE, A_OFF, run_truncate},
    [OP_FALLOC] = {"falloc", C_FALLOC, A_RANGE, run_falloc},
    [OP_FALLOC_KEEP] = {"falloc_keep", C_FALLOC, A_RANGE, run_falloc},
    [OP_PUNCH] = {"punch", C_PUNCH, A_RANGE, run_falloc},
    [OP_ZERO] = {"zero", C_ZERO, A_RANGE, run_falloc},
    [OP_ZERO_KEEP] = {"zero_keep", C_ZERO, A_RANGE, run_falloc},
    [OP_COLLAPSE] = {"collapse", C_COLLAPSE, A_RANGE, run_shift},
    [OP_INSERT] = {"insert", C_INSERT, A_RANGE, run_shift},
    [OP_COPY] = {"copy", C_COPY, A_COPY, run_copy},
    [OP_COPY_SCRATCH] = {"copyx", C_COPY, A_COPY, run_copy},
    [OP_SEEK_DATA] = {"seek_data", C_SEEK, A_OFF, run_seek},
    [OP_SEEK_HOLE] = {"seek_hole", C_SEEK, A_OFF, run_seek},
    [OP_FSYNC] = {"fsync", C_FSYNC, A_NONE, run_fsync},
    [OP_FDATASYNC] = {"fdatasync", C_FSYNC, A_NONE, run_fsync},
    [OP_REOPEN] = {"reopen", C_REOPEN, A_NONE, run_reopen},
    [OP_DXMAP] = {"map", C_DXMAP, A_MAP, run_dxmap},
    [OP_LEASE] = {"lease", C_LEASE, A_RANGE, run_lease},
    [OP_PIN_TRUNCATE] = {"pin_truncate", C_PINNED, A_CHANGE, run_change},
    [OP_PIN_PUNCH] = {"pin_punch", C_PINNED, A_CHANGE, run_change},
    [OP_PIN_COLLAPSE] = {"pin_collapse", C_PINNED, A_CHANGE, run_change},
    [OP_PIN_INSERT] = {"pin_insert", C_PINNED, A_CHANGE, run_change},
    [OP_BREAK_TRUNCATE] = {"break_truncate", C_BREAK, A_CHANGE, run_change},
    [OP_BREAK_PUNCH] = {"break_punch", C_BREAK, A_CHANGE, run_change},
    [OP_BREAK_COLLAPSE] = {"break_collapse", C_BREAK, A_CHANGE, run_change},
    [OP_BREAK_INSERT] = {"break_insert", C_BREAK, A_CHANGE, run_change},
    [OP_REVOKE_TRUNCATE] = {"revoke_truncate", C_REVOKE, A_CHANGE, run_change},
    [OP_REVOKE_PUNCH] = {"revoke_punch", C_REVOKE, A_CHANGE, run_change},
    [OP_REVOKE_COLLAPSE] = {"revoke_collapse", C_REVOKE, A_CHANGE, run_change},
    [OP_REVOKE_INSERT] = {"revoke_insert", C_REVOKE, A_CHANGE, run_change},
    [OP_DMA_IN] = {"dma_in", C_DMA, A_DMA, run_dma},
    [OP_DMA_OUT] = {"dma_out", C_DMA, A_DMA, run_dma},
    [OP_CLONE] = {"clone", C_CLONE, A_COPY, run_clone},
    [OP_CLONE_SCRATCH] = {"clonex", C_CLONE, A_COPY, run_clone},
    [OP_SNAPSHOT] = {"snapshot", C_SNAPSHOT, A_RANGE, run_snapshot},
    [OP_COHERENT] = {"coherent_map", C_SNAPSHOT, A_RANGE, run_snapshot},
};

static int gen_read(struct op *op);
static int gen_write(struct op *op);
static int gen_mapread(struct op *op);
static int gen_mapwrite(struct op *op);
static int gen_truncate(struct op *op);
static int gen_falloc(struct op *op);
static int gen_punch(struct op *op);
static int gen_zero(struct op *op);
static int gen_collapse(struct op *op);
static int gen_insert(struct op *op);
static int gen_copy(struct op *op);
static int gen_seek(struct op *op);
static int gen_fsync(struct op *op);
static int gen_reopen(struct op *op);

struct op_class classes[NR_CLASSES] = {
    [C_READ] = {"read", 12, 0, gen_read, false},
    [C_WRITE] = {"write", 16, 0, gen_write, false},
    [C_MAPREAD] = {"mapread", 5, 0, gen_mapread, false},
    [C_MAPWRITE] = {"mapwrite", 5, 0, gen_mapwrite, false},
    [C_TRUNCATE] = {"truncate", 4, CF_SHIFT, gen_truncate, false},
    [C_FALLOC] = {"falloc", 3, CF_FALLOC, gen_falloc, false},
    [C_PUNCH] = {"punch", 3, CF_FALLOC, gen_punch, false},
    [C_ZERO] = {"zero", 3, CF_FALLOC, gen_zero, false},
    [C_COLLAPSE] = {"collapse", 2, CF_FALLOC | CF_SHIFT, gen_collapse, false},
    [C_INSERT] = {"insert", 2, CF_FALLOC | CF_SHIFT, gen_insert, false},
    [C_COPY] = {"copy", 4, 0, gen_copy, false},
    [C_SEEK] = {"seek", 5, 0, gen_seek, false},
    [C_FSYNC] = {"fsync", 1, 0, gen_fsync, false},
    [C_REOPEN] = {"reopen", 1, 0, gen_reopen, false},
    [C_DXMAP] = {"map", 4, CF_DAXFS, gen_dxmap, false},
    [C_LEASE] = {"lease", 1, CF_DAXFS, gen_lease, false},
    [C_PINNED] = {"pinned-change", 1, CF_DAXFS, gen_pinned, false},
    [C_BREAK] = {"break", 1, CF_DAXFS, gen_break, false},
    [C_REVOKE] = {"revoke", 1, CF_DAXFS, gen_revoke, false},
    [C_DMA] = {"dma", 2, CF_DAXFS, gen_dma, false},
    [C_CLONE] = {"clone", 2, CF_DAXFS, gen_clone, false},
    [C_SNAPSHOT] = {"snapshot", 1, CF_DAXFS, gen_snapshot, false},
};

/* ---- small helpers ---- */

uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

uint64_t align_down(uint64_t x, uint64_t a)
{
	return x / a * a;
}

uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

void prt(const char *fmt, ...)
{
	va_list ap;

	fputs(fx.prefix, stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void setup_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s%s: ", fx.prefix, PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_SETUP);
}

void *xmalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p)
		setup_error("out of memory (%zu bytes)", n);
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		setup_error("out of memory");
	return s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: tiny, good enough, and identical everywhere. */
uint64_t rnd(void)
{
	uint64_t z = (fx.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
	z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ull;
	return z ^ (z >> 33);
}

/*
 * The bytes op number `num` writes at file offset off.  Every 8-byte word
 * depends on both, so data from another op or from another offset (a
 * misdirected or shifted write, a stale block) shows up as a mismatch.
 */
void fill_pattern(uint8_t *buf, uint64_t off, uint64_t len, uint32_t num, uint32_t salt)
{
	uint64_t i = 0;

	while (i < len) {
		uint64_t word = (off + i) >> 3;
		uint64_t h = mix64(word * 0x9e3779b97f4a7c15ull ^ ((uint64_t)num << 32 | salt));
		unsigned int b = (off + i) & 7;

		for (; b < 8 && i < len; b++, i++)
			buf[i] = h >> (8 * b);
	}
}

/* ---- the op log ---- */

/* How many numbers follow an op's name, taken from off, len, dst... */
static int op_nargs(enum op_args a)
{
	static const int n[] = {
	    [A_NONE] = 0, [A_OFF] = 1,	  [A_RANGE] = 2, [A_COPY] = 3,
	    [A_DMA] = 3,  [A_CHANGE] = 4, [A_MAP] = 6,
	};

	return n[a];
}

static uint64_t *op_arg(struct op *op, int i)
{
	uint64_t *f[] = {&op->off, &op->len, &op->dst, &op->len2, &op->persist, &op->hold};

	return f[i];
}

static int format_op(char *s, size_t n, const struct op *op)
{
	int len = snprintf(s, n, "%u %s", op->num, opcodes[op->code].name);

	for (int i = 0; i < op_nargs(opcodes[op->code].args) && len >= 0 && (size_t)len < n; i++)
		len += snprintf(s + len, n - len, " 0x%" PRIx64, *op_arg((struct op *)op, i));
	return len;
}

/* Human-readable form for the failure dump and -v. */
static void describe_op(char *s, size_t n, const struct op *op, uint64_t size_before)
{
	const struct opcode_desc *d = &opcodes[op->code];

	switch (d->args) {
	case A_NONE:
		snprintf(s, n, "%8u %-11s", op->num, d->name);
		break;
	case A_OFF:
		if (op->code == OP_TRUNCATE)
			snprintf(s, n, "%8u %-11s 0x%" PRIx64 " (from 0x%" PRIx64 ")", op->num,
				 d->name, op->off, size_before);
		else
			snprintf(s, n, "%8u %-11s 0x%" PRIx64 " (size 0x%" PRIx64 ")", op->num,
				 d->name, op->off, size_before);
		break;
	case A_RANGE:
		snprintf(s, n, "%8u %-11s 0x%" PRIx64 " .. 0x%" PRIx64 " (0x%" PRIx64 " bytes)",
			 op->num, d->name, op->off, op->off + op->len, op->len);
		break;
	case A_COPY:
		snprintf(s, n,
			 "%8u %-11s 0x%" PRIx64 " .. 0x%" PRIx64 " (0x%" PRIx64
			 " bytes) to 0x%" PRIx64,
			 op->num, d->name, op->off, op->off + op->len, op->len, op->dst);
		break;
	default: {
		char t[128];

		dx_describe(t, sizeof(t), op);
		snprintf(s, n, "%8u %-11s %s", op->num, d->name, t);
		break;
	}
	}
}

static int parse_op(const char *line, struct op *op)
{
	char name[32];
	unsigned int num;
	int pos = 0;
	int want, i;

	if (sscanf(line, "%u %31s %n", &num, name, &pos) < 2)
		return -1;
	for (i = 0; i < NR_OPCODES; i++)
		if (!strcmp(opcodes[i].name, name))
			break;
	if (i == NR_OPCODES)
		return -1;
	op->num = num;
	op->code = i;
	want = op_nargs(opcodes[i].args);
	line += pos;
	for (i = 0; i < want; i++) {
		char *end;

		errno = 0;
		*op_arg(op, i) = strtoull(line, &end, 0);
		if (errno || end == line)
			return -1;
		line = end;
	}
	return 0;
}

static void log_header(FILE *f)
{
	fprintf(f,
		"# daxfs-fsx ops v1 seed=%" PRIu64 " maxlen=%" PRIu64 " salt=%" PRIu32
		" copysrc=%" PRIu64 " holdmaps=%u\n",
		fx.seed, fx.m.maxlen, fx.salt, fx.scratch_len, fx.hold_maps);
}

static void dump_ring(void)
{
	uint64_t first = fx.ring_n > RING_LEN ? fx.ring_n - RING_LEN : 0;
	char s[160];

	prt("last %" PRIu64 " operations (op number, name, range):\n", fx.ring_n - first);
	for (uint64_t i = first; i < fx.ring_n; i++) {
		const struct ring_ent *e = &fx.ring[i % RING_LEN];

		describe_op(s, sizeof(s), &e->op, e->size_before);
		prt("  %s\n", s);
	}
}

static void write_replay(void)
{
	char line[512];
	FILE *out;

	if (!fx.log || !fx.ops_out)
		return;
	if (fx.replay_path) {
		char *a = realpath(fx.replay_path, NULL);
		char *b = realpath(fx.ops_out, NULL);
		bool same = a && b && !strcmp(a, b);

		free(a);
		free(b);
		if (same) {
			prt("replay file %s left as it was\n", fx.ops_out);
			return;
		}
	}
	fflush(fx.log);
	out = fopen(fx.ops_out, "w");
	if (!out) {
		prt("cannot write %s: %s\n", fx.ops_out, strerror(errno));
		return;
	}
	rewind(fx.log);
	while (fgets(line, sizeof(line), fx.log))
		fputs(line, out);
	if (fclose(out))
		prt("cannot write %s: %s\n", fx.ops_out, strerror(errno));
	else
		prt("replay file: %s (run it with --replay)\n", fx.ops_out);
}

static const char *op_name_of(uint32_t num);

void fail(const char *fmt, ...)
{
	const char *name = op_name_of(fx.curop);
	va_list ap;

	prt("FAILURE at op %u%s%s%s: ", fx.curop, name ? " (" : "", name ? name : "",
	    name ? ")" : "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	prt("seed %" PRIu64 ", file %s, size expected 0x%" PRIx64 "\n", fx.seed, fx.path,
	    fx.m.size);
	dump_ring();
	dx_fail_info();
	write_replay();
	fflush(stdout);
	exit(EXIT_FAIL);
}

/* ---- checking ---- */

static const char *op_name_of(uint32_t num)
{
	for (uint64_t i = fx.ring_n > RING_LEN ? fx.ring_n - RING_LEN : 0; i < fx.ring_n; i++)
		if (fx.ring[i % RING_LEN].op.num == num && num)
			return opcodes[fx.ring[i % RING_LEN].op.code].name;
	return NULL;
}

static void hexline(const char *label, uint64_t off, const uint8_t *p, unsigned int n,
		    const uint8_t *other)
{
	char s[128];
	int len = 0;

	for (unsigned int i = 0; i < n; i++)
		len += snprintf(s + len, sizeof(s) - len, "%02x%c", p[i],
				other && other[i] != p[i] ? '*' : ' ');
	prt("  0x%08" PRIx64 " %-9s %s\n", off, label, s);
}

/* Where might the bytes we got have come from?  Only a hint for humans. */
static void guess_origin(uint64_t bad, const uint8_t *got, unsigned int n)
{
	uint8_t pat[16];
	bool zero = true;

	for (unsigned int i = 0; i < n; i++)
		zero &= got[i] == 0;
	if (zero) {
		prt("  the bytes read are zero: a lost write, or a hole where data belongs\n");
		return;
	}
	if (n > sizeof(pat))
		n = sizeof(pat);
	for (uint32_t k = fx.curop; k >= 1 && fx.curop - k < 4000000; k--) {
		fill_pattern(pat, bad, n, k, fx.salt);
		if (!memcmp(pat, got, n)) {
			prt("  the bytes read are what op %u wrote at this offset (stale data?)\n",
			    k);
			return;
		}
	}
	/* Misplaced by whole blocks?  Look at recent ops only. */
	for (uint32_t k = fx.curop; k >= 1 && k + 256 > fx.curop; k--) {
		for (int64_t d = -16; d <= 16; d++) {
			int64_t src = (int64_t)bad + d * (int64_t)fx.falign;

			if (!d || src < 0)
				continue;
			fill_pattern(pat, src, n, k, fx.salt);
			if (!memcmp(pat, got, n)) {
				prt("  the bytes read are what op %u wrote at 0x%" PRIx64
				    " (misplaced by %" PRId64 " bytes)\n",
				    k, (uint64_t)src, d * (int64_t)fx.falign);
				return;
			}
		}
	}
	fill_pattern(pat, bad, n, 0, SCRATCH_SALT);
	if (!memcmp(pat, got, n)) {
		prt("  the bytes read come from the copy source file at the same offset\n");
		return;
	}
	prt("  origin of the bytes read not recognised\n");
}

static void report_mismatch(const char *what, uint64_t off, const uint8_t *got, uint64_t len)
    __attribute__((noreturn));
static void report_mismatch(const char *what, uint64_t off, const uint8_t *got, uint64_t len)
{
	const uint8_t *exp = fx.m.data + off;
	uint64_t first = 0, last = 0, nbad = 0;
	uint64_t bad, ls, le;
	uint32_t owner;
	const char *oname;

	for (uint64_t i = 0; i < len; i++) {
		if (got[i] == exp[i])
			continue;
		if (!nbad)
			first = i;
		last = i;
		nbad++;
	}
	bad = off + first;
	prt("%s: bad data at 0x%" PRIx64 " (checked 0x%" PRIx64 " .. 0x%" PRIx64 ")\n", what, bad,
	    off, off + len);
	prt("  %" PRIu64 " bad bytes between 0x%" PRIx64 " and 0x%" PRIx64 "\n", nbad, bad,
	    off + last);
	ls = max_u64(off, bad & ~15ull);
	le = min_u64(off + len, ls + 16);
	hexline("expected", ls, exp + (ls - off), le - ls, NULL);
	hexline("actual", ls, got + (ls - off), le - ls, exp + (ls - off));
	owner = fx.m.owner[bad];
	oname = op_name_of(owner);
	if (!owner)
		prt("  expected bytes: never written (zero)\n");
	else
		prt("  expected bytes defined by op %u%s%s%s\n", owner, oname ? " (" : "",
		    oname ? oname : "", oname ? ")" : "");
	guess_origin(bad, got + first, min_u64(8, len - first));
	fail("%s returned wrong data", what);
}

void check_bytes(const char *what, uint64_t off, const uint8_t *got, uint64_t len)
{
	if (memcmp(got, fx.m.data + off, len))
		report_mismatch(what, off, got, len);
}

ssize_t pread_full(int fd, uint8_t *buf, uint64_t len, uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

static void pwrite_full(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("pwrite 0x%" PRIx64 " len 0x%" PRIx64 ": %s", off + done, len - done,
			     strerror(errno));
		if (n == 0)
			fail("pwrite 0x%" PRIx64 " wrote nothing", off + done);
		done += n;
	}
}

/* Compare the whole region this process owns with the model. */
void full_check(const char *why)
{
	struct stat st;
	uint64_t end;
	ssize_t n;

	/* Bytes written through held mappings first reach the kernel's view. */
	dx_flush_held();
	dx_check_held(why);
	if (fstat(fx.fd, &st))
		fail("%s: fstat: %s", why, strerror(errno));
	if ((uint64_t)st.st_size != fx.m.size)
		fail("%s: file size is 0x%" PRIx64 ", expected 0x%" PRIx64, why,
		     (uint64_t)st.st_size, fx.m.size);
	end = min_u64(fx.re, fx.m.size);
	if (end <= fx.rs)
		return;
	n = pread_full(fx.fd, fx.buf, end - fx.rs, fx.rs);
	if (n < 0)
		fail("%s: read: %s", why, strerror(errno));
	if ((uint64_t)n != end - fx.rs)
		fail("%s: short read of 0x%zx bytes at 0x%" PRIx64 ", expected 0x%" PRIx64, why, n,
		     fx.rs, end - fx.rs);
	check_bytes(why, fx.rs, fx.buf, end - fx.rs);
	if (fx.is_daxfs) {
		char what[64];

		snprintf(what, sizeof(what), "%s, O_DIRECT", why);
		dx_read_pool(what, fx.rs, end - fx.rs);
	}
}

/* ---- executors ---- */

static enum run_result run_read(const struct op *op)
{
	uint64_t size = fx.m.size;
	uint64_t want = op->off < size ? min_u64(op->len, size - op->off) : 0;
	ssize_t n;

	n = pread_full(fx.fd, fx.buf, op->len, op->off);
	if (n < 0)
		fail("read 0x%" PRIx64 " len 0x%" PRIx64 ": %s", op->off, op->len, strerror(errno));
	if ((uint64_t)n != want)
		fail("read 0x%" PRIx64 " len 0x%" PRIx64
		     " returned 0x%zx bytes, expected 0x%" PRIx64 " (size 0x%" PRIx64 ")",
		     op->off, op->len, n, want, size);
	check_bytes("read", op->off, fx.buf, want);
	/* On daxfs, the same bytes once more, as the pool holds them. */
	dx_read_pool("O_DIRECT read", op->off, op->len);
	return RUN_OK;
}

static enum run_result run_write(const struct op *op)
{
	fill_pattern(fx.buf, op->off, op->len, op->num, fx.salt);
	pwrite_full(fx.fd, fx.buf, op->len, op->off);
	model_write(&fx.m, op->off, op->len, fx.buf, op->num);
	return RUN_OK;
}

/*
 * A mapping faults with SIGBUS past what the kernel believes is EOF; turn
 * that into an ordinary failure report instead of dying silently.
 */
static sigjmp_buf map_jmp;
static volatile sig_atomic_t map_armed;

static void on_sigbus(int sig)
{
	if (map_armed)
		siglongjmp(map_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void map_fault(const char *what, uint64_t off, uint64_t len) __attribute__((noreturn));
static void map_fault(const char *what, uint64_t off, uint64_t len)
{
	struct stat st;

	map_armed = 0;
	if (fstat(fx.fd, &st))
		st.st_size = -1;
	fail("SIGBUS in %s 0x%" PRIx64 " len 0x%" PRIx64 " (expected size 0x%" PRIx64
	     ", st_size now 0x%jx)",
	     what, off, len, fx.m.size, (intmax_t)st.st_size);
}

static void *map_range(uint64_t off, uint64_t len, int prot, uint64_t *pg, uint64_t *maplen)
{
	void *p;

	*pg = align_down(off, fx.pagesize);
	*maplen = off + len - *pg;
	p = mmap(NULL, *maplen, prot, MAP_SHARED, fx.fd, *pg);
	if (p == MAP_FAILED) {
		/* FUSE in direct-io mode, for one, cannot map shared. */
		if (errno == ENODEV || errno == EOPNOTSUPP)
			return NULL;
		fail("mmap 0x%" PRIx64 " len 0x%" PRIx64 ": %s", *pg, *maplen, strerror(errno));
	}
	return p;
}

static enum run_result run_mapread(const struct op *op)
{
	uint64_t pg, maplen;
	uint8_t *p;

	if (!op->len)
		return RUN_OK;
	if (op->off + op->len > fx.m.size)
		fail("mapread beyond EOF 0x%" PRIx64 " in the op list", fx.m.size);
	p = map_range(op->off, op->len, PROT_READ, &pg, &maplen);
	if (!p)
		return RUN_UNSUPPORTED;
	/* Faulting holes in may allocate them (tmpfs does). */
	model_touch_pages(&fx.m, op->off, op->len, fx.pagesize);
	if (sigsetjmp(map_jmp, 1))
		map_fault("mapread", op->off, op->len);
	map_armed = 1;
	memcpy(fx.buf, p + (op->off - pg), op->len);
	map_armed = 0;
	munmap(p, maplen);
	check_bytes("mapread", op->off, fx.buf, op->len);
	return RUN_OK;
}

static enum run_result run_mapwrite(const struct op *op)
{
	uint64_t pg, maplen;
	uint8_t *p;

	if (!op->len)
		return RUN_OK;
	if (op->off + op->len > fx.m.size) {
		/* A mapping cannot extend the file: grow it first, as fsx does. */
		if (ftruncate(fx.fd, op->off + op->len))
			fail("ftruncate 0x%" PRIx64 " before mapwrite: %s", op->off + op->len,
			     strerror(errno));
		model_truncate(&fx.m, op->off + op->len, op->num);
	}
	p = map_range(op->off, op->len, PROT_READ | PROT_WRITE, &pg, &maplen);
	if (!p)
		return RUN_UNSUPPORTED;
	fill_pattern(fx.buf, op->off, op->len, op->num, fx.salt);
	if (sigsetjmp(map_jmp, 1))
		map_fault("mapwrite", op->off, op->len);
	map_armed = 1;
	memcpy(p + (op->off - pg), fx.buf, op->len);
	map_armed = 0;
	if (msync(p, maplen, MS_SYNC))
		fail("msync 0x%" PRIx64 " len 0x%" PRIx64 ": %s", pg, maplen, strerror(errno));
	munmap(p, maplen);
	model_touch_pages(&fx.m, op->off, op->len, fx.pagesize);
	model_write(&fx.m, op->off, op->len, fx.buf, op->num);
	return RUN_OK;
}

static enum run_result run_truncate(const struct op *op)
{
	if (ftruncate(fx.fd, op->off))
		fail("ftruncate 0x%" PRIx64 ": %s", op->off, strerror(errno));
	model_truncate(&fx.m, op->off, op->num);
	return RUN_OK;
}

static bool unsupported_errno(int e)
{
	return e == EOPNOTSUPP || e == ENOSYS || e == ENOTTY;
}

static enum run_result run_falloc(const struct op *op)
{
	int mode;

	switch (op->code) {
	case OP_FALLOC:
		mode = 0;
		break;
	case OP_FALLOC_KEEP:
		mode = FALLOC_FL_KEEP_SIZE;
		break;
	case OP_PUNCH:
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		break;
	case OP_ZERO:
		mode = FALLOC_FL_ZERO_RANGE;
		break;
	default:
		mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		break;
	}
	if (fallocate(fx.fd, mode, op->off, op->len)) {
		if (unsupported_errno(errno))
			return RUN_UNSUPPORTED;
		fail("fallocate(%s) 0x%" PRIx64 " len 0x%" PRIx64 ": %s", opcodes[op->code].name,
		     op->off, op->len, strerror(errno));
	}
	switch (op->code) {
	case OP_FALLOC:
	case OP_FALLOC_KEEP:
		model_alloc(&fx.m, op->off, op->len, op->code == OP_FALLOC_KEEP);
		break;
	case OP_PUNCH:
		model_punch(&fx.m, op->off, op->len, op->num);
		break;
	default:
		model_zero(&fx.m, op->off, op->len, op->code == OP_ZERO_KEEP, op->num);
		break;
	}
	return RUN_OK;
}

static enum run_result run_shift(const struct op *op)
{
	int mode = op->code == OP_COLLAPSE ? FALLOC_FL_COLLAPSE_RANGE : FALLOC_FL_INSERT_RANGE;
	int ret;

	if (fx.is_daxfs) {
		/* Linux's FUSE module refuses these modes, so daxfs takes an ioctl. */
		struct daxfs_ioc_falloc arg = {
		    .offset = op->off,
		    .length = op->len,
		    .mode = mode,
		};

		ret = ioctl(fx.fd, DAXFS_IOC_FALLOCATE, &arg);
	} else {
		ret = fallocate(fx.fd, mode, op->off, op->len);
	}
	if (ret) {
		if (unsupported_errno(errno))
			return RUN_UNSUPPORTED;
		fail("%s 0x%" PRIx64 " len 0x%" PRIx64 " (size 0x%" PRIx64 ")%s: %s",
		     opcodes[op->code].name, op->off, op->len, fx.m.size,
		     fx.is_daxfs ? " via DAXFS_IOC_FALLOCATE" : "", strerror(errno));
	}
	if (op->code == OP_COLLAPSE)
		model_collapse(&fx.m, op->off, op->len, op->num);
	else
		model_insert(&fx.m, op->off, op->len, op->num);
	return RUN_OK;
}

/* What a copy or a clone of op's range puts at op->dst, in the model. */
void model_copy_op(const struct op *op, bool scratch)
{
	if (scratch)
		model_copy(&fx.m, op->dst, op->len, fx.scratch_data + op->off,
			   fx.scratch_state + op->off, op->num);
	else
		model_copy(&fx.m, op->dst, op->len, fx.m.data + op->off, fx.m.state + op->off,
			   op->num);
}

static enum run_result run_copy(const struct op *op)
{
	bool scratch = op->code == OP_COPY_SCRATCH;
	int in = scratch ? fx.scratch_fd : fx.fd;
	loff_t src = op->off, dst = op->dst;
	uint64_t left = op->len;

	while (left) {
		ssize_t n = copy_file_range(in, &src, fx.fd, &dst, left, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && left == op->len && (unsupported_errno(errno) || errno == EXDEV))
			return RUN_UNSUPPORTED;
		if (n < 0)
			fail("copy_file_range 0x%" PRIx64 " -> 0x%" PRIx64 " len 0x%" PRIx64 ": %s",
			     (uint64_t)src, (uint64_t)dst, left, strerror(errno));
		if (n == 0)
			fail("copy_file_range 0x%" PRIx64 " -> 0x%" PRIx64 " copied nothing, "
			     "0x%" PRIx64 " bytes left",
			     (uint64_t)src, (uint64_t)dst, left);
		left -= n;
	}
	model_copy_op(op, scratch);
	return RUN_OK;
}

static uint64_t first_data(uint64_t off, uint64_t end)
{
	for (uint64_t i = off; i < end; i++)
		if (fx.m.state[i] == SEG_DATA)
			return i;
	return end;
}

/*
 * The model knows some ranges are certainly data and some certainly holes;
 * the filesystem may report any hole as data, but it must not report a
 * certain hole as data nor skip data.  With -P only our region is known.
 */
static enum run_result run_seek(const struct op *op)
{
	bool data = op->code == OP_SEEK_DATA;
	const char *name = data ? "SEEK_DATA" : "SEEK_HOLE";
	uint64_t size = fx.m.size, lim = min_u64(size, fx.re);
	off_t r;

	r = lseek(fx.fd, op->off, data ? SEEK_DATA : SEEK_HOLE);
	if (r < 0 && unsupported_errno(errno))
		return RUN_UNSUPPORTED;
	if (op->off >= size) {
		if (r >= 0 || errno != ENXIO)
			fail("%s 0x%" PRIx64 " at/after EOF 0x%" PRIx64 " returned %jd (%s), "
			     "expected ENXIO",
			     name, op->off, size, (intmax_t)r,
			     r < 0 ? strerror(errno) : "no error");
		return RUN_OK;
	}
	if (r < 0) {
		uint64_t d;

		if (errno != ENXIO || !data)
			fail("%s 0x%" PRIx64 " (size 0x%" PRIx64 "): %s", name, op->off, size,
			     strerror(errno));
		d = first_data(op->off, lim);
		if (d < lim)
			fail("SEEK_DATA 0x%" PRIx64 " says no data, but 0x%" PRIx64
			     " is data (op %u)",
			     op->off, d, fx.m.owner[d]);
		return RUN_OK;
	}
	if ((uint64_t)r < op->off)
		fail("%s 0x%" PRIx64 " went backwards to 0x%jx", name, op->off, (intmax_t)r);
	if (data) {
		uint64_t d = first_data(op->off, min_u64(r, lim));

		if ((uint64_t)r >= size)
			fail("SEEK_DATA 0x%" PRIx64 " returned 0x%jx, at/after EOF 0x%" PRIx64,
			     op->off, (intmax_t)r, size);
		if (d < min_u64(r, lim))
			fail("SEEK_DATA 0x%" PRIx64 " returned 0x%jx, skipping data at 0x%" PRIx64
			     " (op %u)",
			     op->off, (intmax_t)r, d, fx.m.owner[d]);
		if (fx.strict_holes && (uint64_t)r < fx.re && model_certain_hole(&fx.m, r))
			fail("SEEK_DATA 0x%" PRIx64 " returned 0x%jx, inside a certain hole "
			     "(granule 0x%" PRIx64 " of 0x%" PRIx64 " bytes was never written or "
			     "was punched)",
			     op->off, (intmax_t)r, align_down(r, fx.gran), fx.gran);
	} else {
		uint64_t b, e, d;

		if ((uint64_t)r > size)
			fail("SEEK_HOLE 0x%" PRIx64 " returned 0x%jx, beyond EOF 0x%" PRIx64,
			     op->off, (intmax_t)r, size);
		/* The block holding r must be a hole, so none of it was written. */
		b = align_down(r, fx.fine);
		e = min_u64(b + fx.fine, lim);
		if ((uint64_t)r < lim && (d = first_data(b, e)) < e)
			fail("SEEK_HOLE 0x%" PRIx64 " returned 0x%jx, but 0x%" PRIx64
			     " in its block is data (op %u)",
			     op->off, (intmax_t)r, d, fx.m.owner[d]);
	}
	return RUN_OK;
}

static enum run_result run_fsync(const struct op *op)
{
	int ret = op->code == OP_FSYNC ? fsync(fx.fd) : fdatasync(fx.fd);

	if (ret)
		fail("%s: %s", opcodes[op->code].name, strerror(errno));
	return RUN_OK;
}

static enum run_result run_reopen(const struct op *op)
{
	struct stat st;

	(void)op;
	if (close(fx.fd))
		fail("close: %s", strerror(errno));
	fx.fd = open(fx.path, O_RDWR);
	if (fx.fd < 0)
		fail("reopen %s: %s", fx.path, strerror(errno));
	if (fstat(fx.fd, &st) || st.st_dev != fx.dev)
		fail("reopen %s: the file is now on another filesystem (unmounted under us?)",
		     fx.path);
	full_check("check after reopen");
	return RUN_OK;
}

/* ---- generators ---- */

/* A length in [1, max]: mostly uniform, some tiny, some whole blocks. */
uint64_t gen_len(uint64_t max)
{
	uint64_t len;

	switch (rnd_below(8)) {
	case 0:
		len = 1 + rnd_below(16);
		break;
	case 1:
		len = max >= fx.falign ? fx.falign * (1 + rnd_below(max / fx.falign))
				       : 1 + rnd_below(max);
		break;
	default:
		len = 1 + rnd_below(max);
		break;
	}
	return min_u64(len, max);
}

/* An offset in [lo, hi) aligned to align, or -1 if there is none. */
int gen_off(uint64_t lo, uint64_t hi, uint64_t align, uint64_t *off)
{
	uint64_t o;

	if (hi <= lo)
		return -1;
	o = align_down(lo + rnd_below(hi - lo), align);
	if (o < lo)
		return -1;
	*off = o;
	return 0;
}

static int gen_read(struct op *op)
{
	if (gen_off(fx.rs, min_u64(fx.m.size, fx.re), fx.ralign, &op->off))
		return -1;
	/* May run past EOF: the short count is checked too. */
	op->len = gen_len(min_u64(fx.maxoplen, fx.re - op->off));
	op->code = OP_READ;
	return 0;
}

static int gen_mapread(struct op *op)
{
	uint64_t lim = min_u64(fx.m.size, fx.re);

	if (gen_off(fx.rs, lim, fx.ralign, &op->off))
		return -1;
	op->len = gen_len(min_u64(fx.maxoplen, lim - op->off));
	op->code = OP_MAPREAD;
	return 0;
}

static int gen_write(struct op *op)
{
	bool aligned = rnd_below(4) == 0;

	if (gen_off(fx.rs, fx.re, aligned ? max_u64(fx.walign, fx.falign) : fx.walign, &op->off))
		return -1;
	op->len = gen_len(min_u64(fx.maxoplen, fx.re - op->off));
	if (aligned && op->len >= fx.falign)
		op->len = align_down(op->len, fx.falign);
	op->code = OP_WRITE;
	return 0;
}

static int gen_mapwrite(struct op *op)
{
	if (gen_off(fx.rs, fx.re, fx.walign, &op->off))
		return -1;
	op->len = gen_len(min_u64(fx.maxoplen, fx.re - op->off));
	op->code = OP_MAPWRITE;
	return 0;
}

static int gen_truncate(struct op *op)
{
	if (gen_off(0, fx.m.maxlen + 1, fx.talign, &op->off))
		return -1;
	op->code = OP_TRUNCATE;
	return 0;
}

/* A range inside our region, block-aligned half of the time. */
static int gen_range(struct op *op)
{
	bool aligned = rnd_below(2) == 0;

	if (gen_off(fx.rs, fx.re, aligned ? fx.falign : 1, &op->off))
		return -1;
	op->len = gen_len(min_u64(fx.maxoplen, fx.re - op->off));
	if (aligned && op->len >= fx.falign)
		op->len = align_down(op->len, fx.falign);
	return 0;
}

static int gen_falloc(struct op *op)
{
	op->code = rnd_below(2) ? OP_FALLOC : OP_FALLOC_KEEP;
	return gen_range(op);
}

static int gen_punch(struct op *op)
{
	op->code = OP_PUNCH;
	return gen_range(op);
}

static int gen_zero(struct op *op)
{
	op->code = rnd_below(2) ? OP_ZERO : OP_ZERO_KEEP;
	return gen_range(op);
}

static int gen_collapse(struct op *op)
{
	uint64_t a = fx.falign, top, maxlen;

	/* Both ends block-aligned, and the range must end before EOF. */
	if (fx.m.size <= a)
		return -1;
	top = align_down(fx.m.size - 1, a);
	if (top < a)
		return -1;
	op->off = a * rnd_below(top / a);
	maxlen = min_u64(top - op->off, max_u64(align_down(fx.maxoplen, a), a));
	op->len = a * (1 + rnd_below(maxlen / a));
	op->code = OP_COLLAPSE;
	return 0;
}

static int gen_insert(struct op *op)
{
	uint64_t a = fx.falign, room;

	if (!fx.m.size || fx.m.size + a > fx.m.maxlen)
		return -1;
	op->off = align_down(rnd_below(fx.m.size), a);
	room = min_u64(fx.m.maxlen - fx.m.size, max_u64(align_down(fx.maxoplen, a), a));
	op->len = a * (1 + rnd_below(room / a));
	op->code = OP_INSERT;
	return 0;
}

static int gen_copy(struct op *op)
{
	uint64_t lim = min_u64(fx.m.size, fx.re);
	uint64_t align = rnd_below(4) == 0 ? fx.falign : 1;

	if (fx.scratch_fd >= 0 && (rnd_below(3) == 0 || lim <= fx.rs)) {
		op->code = OP_COPY_SCRATCH;
		if (gen_off(0, fx.scratch_len, align, &op->off))
			return -1;
		op->len =
		    gen_len(min_u64(min_u64(fx.maxoplen, fx.scratch_len - op->off), fx.re - fx.rs));
		return gen_off(fx.rs, fx.re - op->len + 1, align, &op->dst);
	}
	op->code = OP_COPY;
	if (gen_off(fx.rs, lim, align, &op->off))
		return -1;
	op->len = gen_len(min_u64(fx.maxoplen, lim - op->off));
	/* Overlapping ranges within one file are EINVAL: find a disjoint one. */
	for (int tries = 0; tries < 8; tries++) {
		if (gen_off(fx.rs, fx.re - op->len + 1, align, &op->dst))
			return -1;
		if (op->dst + op->len <= op->off || op->off + op->len <= op->dst)
			return 0;
	}
	return -1;
}

static int gen_seek(struct op *op)
{
	op->code = rnd_below(2) ? OP_SEEK_DATA : OP_SEEK_HOLE;
	if (fx.multi)
		return gen_off(fx.rs, fx.re, 1, &op->off);
	/* Now and then past EOF, where ENXIO is due. */
	op->off = rnd_below(fx.m.size + fx.gran);
	return 0;
}

static int gen_fsync(struct op *op)
{
	op->code = rnd_below(2) ? OP_FSYNC : OP_FDATASYNC;
	return 0;
}

static int gen_reopen(struct op *op)
{
	op->code = OP_REOPEN;
	return 0;
}

static void generate(struct op *op)
{
	unsigned int total = 0;

	for (int c = 0; c < NR_CLASSES; c++)
		if (!classes[c].off)
			total += classes[c].weight;
	if (!total)
		setup_error("every operation is disabled");
	for (int tries = 0; tries < 1000; tries++) {
		unsigned int pick = rnd_below(total);
		int c;

		for (c = 0; c < NR_CLASSES; c++) {
			if (classes[c].off)
				continue;
			if (pick < classes[c].weight)
				break;
			pick -= classes[c].weight;
		}
		memset(op, 0, sizeof(*op));
		if (!classes[c].gen(op))
			return;
	}
	setup_error("no enabled operation is possible on this file (enable write?)");
}

/* ---- running ops ---- */

/* May op change (or, for a daxfs op, map) any byte of [s, e)? */
bool op_touches(const struct op *op, uint64_t size_before, uint64_t s, uint64_t e)
{
	bool map = op->off < e && op->off + op->len > s;

	switch (op->code) {
	case OP_TRUNCATE:
		return min_u64(op->off, size_before) < e && max_u64(op->off, size_before) > s;
	case OP_COLLAPSE:
	case OP_INSERT:
		return op->off < e; /* everything after moves */
	case OP_COPY:
	case OP_COPY_SCRATCH:
	case OP_CLONE:
	case OP_CLONE_SCRATCH:
		return (op->dst < e && op->dst + op->len > s) ||
		       ((op->code == OP_COPY || op->code == OP_CLONE) && op->off < e &&
			op->off + op->len > s);
	case OP_SEEK_DATA:
	case OP_SEEK_HOLE:
		return op->off >= s && op->off < e;
	case OP_FSYNC:
	case OP_FDATASYNC:
	case OP_REOPEN:
		return false;
	case OP_PIN_TRUNCATE:
	case OP_BREAK_TRUNCATE:
	case OP_REVOKE_TRUNCATE:
		return map || (op->dst < size_before && op->dst < e && size_before > s);
	case OP_PIN_PUNCH:
	case OP_BREAK_PUNCH:
	case OP_REVOKE_PUNCH:
		return map || (op->dst < e && op->dst + op->len2 > s);
	case OP_PIN_COLLAPSE:
	case OP_PIN_INSERT:
	case OP_BREAK_COLLAPSE:
	case OP_BREAK_INSERT:
	case OP_REVOKE_COLLAPSE:
	case OP_REVOKE_INSERT:
		return map || op->dst < e;
	default:
		return map;
	}
}

static void execute(const struct op *op)
{
	struct ring_ent *e = &fx.ring[fx.ring_n++ % RING_LEN];
	enum opclass cls = opcodes[op->code].cls;
	char s[160];

	e->op = *op;
	e->size_before = fx.m.size;
	fx.curop = op->num;
	if (fx.log) {
		format_op(s, sizeof(s), op);
		fprintf(fx.log, "%s\n", s);
	}
	if (fx.verbose || (fx.monitor && op_touches(op, fx.m.size, fx.mon_start, fx.mon_end))) {
		describe_op(s, sizeof(s), op, fx.m.size);
		prt("%s\n", s);
	}
	dx_before_op(op);
	if (opcodes[op->code].run(op) == RUN_UNSUPPORTED) {
		if (!classes[cls].off && !fx.quiet)
			prt("%s: %s not supported by this filesystem (%s), disabled\n", PROG,
			    classes[cls].name, opcodes[op->code].name);
		classes[cls].off = true;
	}
	dx_after_op(op, e->size_before);
	fx.done++;
	if (fx.done % CHECK_EVERY == 0)
		full_check("periodic check");
	else if (fx.done % POOL_EVERY == 0)
		dx_pool_check();
	if (fx.progress && fx.done % fx.progress == 0 && !fx.quiet)
		prt("%s: %" PRIu64 " ops done\n", PROG, fx.done);
}

/*
 * Why op cannot run on the file as the model has it now, or NULL.  Replays
 * skip such ops (hand-edited or shrunk op lists); generated ones never are.
 */
static const char *op_invalid(const struct op *op)
{
	uint64_t size = fx.m.size, max = fx.m.maxlen, a = fx.falign;

	if (classes[opcodes[op->code].cls].flags & CF_DAXFS)
		return dx_op_invalid(op);
	switch (opcodes[op->code].args) {
	case A_NONE:
		return NULL;
	case A_OFF:
		if (op->code == OP_TRUNCATE && op->off > max)
			return "size beyond maxlen";
		return op->off > (1ull << 62) ? "offset out of range" : NULL;
	case A_RANGE:
		if (!op->len || op->off > max || op->len > max - op->off)
			return "empty or beyond maxlen";
		break;
	case A_COPY:
		if (!op->len || op->dst > max || op->len > max - op->dst)
			return "empty or beyond maxlen";
		if (op->code == OP_COPY_SCRATCH)
			return op->off + op->len > fx.scratch_len ? "beyond the source file" : NULL;
		if (op->off + op->len > size)
			return "source beyond EOF";
		if (op->off < op->dst + op->len && op->dst < op->off + op->len)
			return "overlapping copy";
		return NULL;
	default:
		break;
	}
	switch (op->code) {
	case OP_MAPREAD:
		return op->off + op->len > size ? "mapread beyond EOF" : NULL;
	case OP_COLLAPSE:
		if (op->off % a || op->len % a)
			return "not block-aligned";
		return op->off + op->len >= size ? "collapse reaching EOF" : NULL;
	case OP_INSERT:
		if (op->off % a || op->len % a)
			return "not block-aligned";
		if (op->off >= size)
			return "insert at or after EOF";
		return size + op->len > max ? "insert beyond maxlen" : NULL;
	default:
		return NULL;
	}
}

static void run_generated(void)
{
	struct op op;

	for (uint64_t i = 0; !fx.numops || i < fx.numops; i++) {
		const char *why;

		generate(&op);
		op.num = (uint32_t)(i + 1);
		why = op_invalid(&op);
		if (why) {
			char line[160];

			format_op(line, sizeof(line), &op);
			setup_error("internal error: generated an invalid op (%s): %s", why, line);
		}
		execute(&op);
	}
}

static void run_replay(FILE *f)
{
	char line[512];
	unsigned int lineno = 0;
	struct op op;

	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		const char *why;

		lineno++;
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		memset(&op, 0, sizeof(op));
		if (parse_op(p, &op))
			setup_error("%s:%u: cannot parse: %s", fx.replay_path, lineno, p);
		if (classes[opcodes[op.code].cls].off) {
			/* The same filesystem refused it when it was recorded too. */
			if (fx.verbose)
				prt("skipping disabled op: %s", p);
			continue;
		}
		why = op_invalid(&op);
		if (why) {
			if (!fx.quiet)
				prt("skipping op not valid here (%s): %s", why, p);
			continue;
		}
		execute(&op);
	}
}

/* ---- setup ---- */

static const char *fs_name(long type)
{
	switch (type) {
	case TMPFS_MAGIC:
		return "tmpfs";
	case EXT4_SUPER_MAGIC:
		return "ext2/3/4";
	case XFS_SUPER_MAGIC:
		return "xfs";
	case BTRFS_SUPER_MAGIC:
		return "btrfs";
	case FUSE_SUPER_MAGIC:
		return "fuse";
	default:
		return "unknown";
	}
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Learn what the filesystem is and the granularity its holes have. */
static void probe_fs(bool print)
{
	struct daxfs_ioc_pool_info info;
	struct statfs sfs;
	struct stat st;
	uint64_t blk;

	memset(&info, 0, sizeof(info));
	fx.is_daxfs = ioctl(fx.fd, DAXFS_IOC_POOL_INFO, &info) == 0;
	if (fstat(fx.fd, &st))
		setup_error("fstat %s: %s", fx.path, strerror(errno));
	fx.dev = st.st_dev;
	if (fstatfs(fx.fd, &sfs))
		sfs.f_type = 0;
	blk = st.st_blksize;
	if (!is_pow2(blk) || blk > (1u << 20))
		blk = fx.pagesize;
	fx.gran = max_u64(fx.pagesize, blk);
	if (fx.is_daxfs && is_pow2(info.block_size) && info.block_size <= (1u << 20))
		fx.gran = max_u64(fx.gran, info.block_size);
	fx.fine = min_u64(max_u64(blk, 512), fx.gran);
	fx.falign = fx.gran;
	/*
	 * Only where we know the allocator do never-written or punched
	 * granules have to read back as holes: ext4, for one, allocates and
	 * zeroes neighbouring blocks of a write on its own.
	 */
	if (fx.strict_holes < 0)
		fx.strict_holes = fx.is_daxfs || sfs.f_type == TMPFS_MAGIC;
	if (print && !fx.quiet) {
		if (fx.is_daxfs)
			prt("%s: %s is on daxfs (pool %.*s, block size %u)\n", PROG, fx.path,
			    (int)sizeof(info.path), info.path, info.block_size);
		else
			prt("%s: %s is on %s (f_type 0x%lx), block size %" PRIu64 "\n", PROG,
			    fx.path, fs_name(sfs.f_type), (long)sfs.f_type, blk);
		if (!fx.strict_holes)
			prt("%s: loose hole checks: SEEK_DATA may return unwritten blocks\n", PROG);
	}
}

/* daxfs-only classes go off elsewhere; say what became of them. */
static void setup_daxfs_ops(void)
{
	char list[256] = "";
	size_t len = 0;

	/* Revocation takes lease_break_time; unknown, it could take 45 s. */
	if (!fx.lease_break_time)
		classes[C_REVOKE].off = true;
	dx_probe();
	for (int c = 0; c < NR_CLASSES; c++) {
		if (!(classes[c].flags & CF_DAXFS))
			continue;
		if (!fx.is_daxfs)
			classes[c].off = true;
		if (!classes[c].off && len < sizeof(list))
			len += snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "",
					classes[c].name);
	}
	if (fx.quiet)
		return;
	if (!fx.is_daxfs)
		printf("daxfs ops: not available on this filesystem (skipped)\n");
	else
		printf("daxfs ops: %s; up to %u mappings held\n", len ? list : "none",
		       fx.hold_maps);
}

/*
 * The second file copy_file_range reads from: known content with a hole
 * in the middle, the same in every run so replays need nothing else.
 */
static void scratch_layout(void)
{
	uint64_t g = 4096, h0, h1; /* not the filesystem's: replays must match */

	fx.scratch_path = xasprintf("%s.fsxcopy", fx.path);
	if (!fx.scratch_len)
		fx.scratch_len = max_u64(align_up(fx.maxoplen, g), 3 * g);
	fx.scratch_data = xmalloc(fx.scratch_len);
	fx.scratch_state = xmalloc(fx.scratch_len);
	h0 = align_up(fx.scratch_len / 3, g);
	h1 = align_down(2 * fx.scratch_len / 3, g);
	if (h1 <= h0)
		h1 = h0 + g;
	fill_pattern(fx.scratch_data, 0, fx.scratch_len, 0, SCRATCH_SALT);
	memset(fx.scratch_state, SEG_DATA, fx.scratch_len);
	memset(fx.scratch_data + h0, 0, h1 - h0);
	memset(fx.scratch_state + h0, SEG_HOLE, h1 - h0);
}

static void create_scratch(void)
{
	uint64_t i = 0;
	int fd;

	fd = open(fx.scratch_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		setup_error("create %s: %s", fx.scratch_path, strerror(errno));
	while (i < fx.scratch_len) {
		uint64_t e = i;

		while (e < fx.scratch_len && fx.scratch_state[e] == fx.scratch_state[i])
			e++;
		if (fx.scratch_state[i] == SEG_DATA) {
			for (uint64_t d = i; d < e;) {
				ssize_t n = pwrite(fd, fx.scratch_data + d, e - d, d);

				if (n <= 0)
					setup_error("write %s: %s", fx.scratch_path,
						    n < 0 ? strerror(errno) : "short write");
				d += n;
			}
		}
		i = e;
	}
	if (ftruncate(fd, fx.scratch_len) || fsync(fd) || close(fd))
		setup_error("set up %s: %s", fx.scratch_path, strerror(errno));
}

static void open_scratch(void)
{
	fx.scratch_fd = open(fx.scratch_path, O_RDONLY);
	if (fx.scratch_fd < 0)
		setup_error("open %s: %s", fx.scratch_path, strerror(errno));
}

static void open_log(const char *record)
{
	if (record) {
		fx.log = fopen(record, "w+");
		if (!fx.log)
			setup_error("cannot write %s: %s", record, strerror(errno));
	} else {
		/* Outside the filesystem under test; holds every op for the replay file. */
		fx.log = tmpfile();
		if (!fx.log)
			prt("%s: no op log, so no replay file on failure: %s\n", PROG,
			    strerror(errno));
	}
	if (fx.log)
		log_header(fx.log);
}

static void close_log(void)
{
	if (fx.log && fclose(fx.log))
		setup_error("writing the op log: %s", strerror(errno));
	fx.log = NULL;
}

static void disable_classes(const char *list)
{
	char *copy = xasprintf("%s", list), *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int c;

		for (c = 0; c < NR_CLASSES; c++)
			if (!strcmp(classes[c].name, t))
				break;
		if (c == NR_CLASSES) {
			fprintf(stderr, "%s: unknown op class '%s'; classes:", PROG, t);
			for (c = 0; c < NR_CLASSES; c++)
				fprintf(stderr, " %s", classes[c].name);
			fputc('\n', stderr);
			exit(EXIT_SETUP);
		}
		classes[c].off = true;
	}
	free(copy);
}

/* ---- one test process ---- */

static void read_replay_header(FILE *f)
{
	char line[512];
	long pos = ftell(f);

	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (line[0] != '#')
			break;
		if ((p = strstr(line, "maxlen=")))
			fx.maxlen = strtoull(p + 7, NULL, 0);
		if ((p = strstr(line, "seed=")))
			fx.seed = strtoull(p + 5, NULL, 0);
		if ((p = strstr(line, "salt=")))
			fx.salt = strtoul(p + 5, NULL, 0);
		if ((p = strstr(line, "copysrc=")))
			fx.scratch_len = strtoull(p + 8, NULL, 0);
		/* Which mappings are still held decides which are unmapped
		 * before a layout change: the replay must hold as many. */
		if ((p = strstr(line, "holdmaps=")))
			fx.hold_maps = strtoul(p + 9, NULL, 0);
		pos = ftell(f);
	}
	fseek(f, pos, SEEK_SET);
	if (fx.scratch_len && (fx.scratch_len < 3 * 4096 || fx.scratch_len > (1u << 30)))
		setup_error("%s: bad copysrc= in the header", fx.replay_path);
}

/*
 * Run this process's share.  In -P mode the parent created the file and
 * the scratch file; we own [rs, re) and the size never changes.
 */
static void run_process(FILE *replay, const char *record)
{
	fx.fd = open(fx.path, fx.multi ? O_RDWR : O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fx.fd < 0)
		setup_error("open %s: %s", fx.path, strerror(errno));
	probe_fs(!fx.multi);
	if (model_init(&fx.m, fx.maxlen, fx.gran))
		setup_error("out of memory for the model");
	fx.buf = xmalloc(fx.m.cap);
	if (!fx.multi) {
		fx.rs = 0;
		fx.re = fx.maxlen;
		scratch_layout();
		create_scratch();
	}
	open_scratch();
	if (!fx.multi)
		setup_daxfs_ops();
	dx_setup();
	if (!fx.multi) {
		if (!fx.quiet)
			prt("%s: maxlen 0x%" PRIx64 ", maxoplen 0x%" PRIx64
			    ", hole granularity %" PRIu64 "\n",
			    PROG, fx.maxlen, fx.maxoplen, fx.gran);
	}
	open_log(record);
	if (fx.multi) {
		/* The parent sized the file; the log says so, for a replay. */
		struct op op = {.num = 0, .code = OP_TRUNCATE, .off = fx.maxlen};
		char s[64];

		model_truncate(&fx.m, fx.maxlen, 0);
		if (fx.log) {
			format_op(s, sizeof(s), &op);
			fprintf(fx.log, "%s\n", s);
		}
	}
	if (replay)
		run_replay(replay);
	else
		run_generated();
	full_check("final check");
	/* Pins go before the file does; what they showed was checked. */
	dx_finish();
	close_log();
	close(fx.fd);
	close(fx.scratch_fd);
}

/* ---- main ---- */

static uint64_t parse_size(const char *s, const char *what)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10, end++;
		break;
	case 'm':
	case 'M':
		v <<= 20, end++;
		break;
	case 'g':
	case 'G':
		v <<= 30, end++;
		break;
	}
	if (*end)
		goto bad;
	return v;
bad:
	fprintf(stderr, "%s: bad %s '%s'\n", PROG, what, s);
	exit(EXIT_SETUP);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [options] FILE\n"
		"  -S seed       random seed (0 = from the clock; default 0)\n"
		"  -N numops     number of operations per process (0 = forever; default 10000)\n"
		"  -l maxlen     largest file length (default 256K)\n"
		"  -o maxoplen   largest length of one operation (default 64K)\n"
		"  -r readalign  align read offsets\n"
		"  -w writealign align write offsets\n"
		"  -t truncalign align truncate sizes\n"
		"  -R            no mmap reads\n"
		"  -W            no mmap writes\n"
		"  -F            no fallocate (falloc, punch, zero, collapse, insert)\n"
		"  -x OPS        disable op classes, comma-separated: read,write,mapread,\n"
		"                mapwrite,truncate,falloc,punch,zero,collapse,insert,copy,\n"
		"                seek,fsync,reopen; on daxfs also map,lease,pinned-change,\n"
		"                break,revoke,dma\n"
		"  -m start:end  log every op touching [start, end)\n"
		"  -q            quiet\n"
		"  -v            log every op\n"
		"  -P nproc      nproc processes, each on its own region of the file\n"
		"  -p N          report progress every N ops\n"
		"  --record F    write the op log to F\n"
		"  --replay F    run exactly the ops listed in F (a .fsxops or --record file)\n"
		"  --strict-holes, --loose-holes\n"
		"                whether SEEK_DATA may return never-written or punched blocks\n"
		"                (default: strict on daxfs and tmpfs, loose elsewhere)\n"
		"  --no-daxfs-ops  no map, lease, pinned-change, break, revoke, dma\n"
		"  --hold-maps N   keep up to N direct mappings across ops (default 2)\n"
		"  --lease-break-time S\n"
		"                the mount's lease_break_time: enables revoke\n"
		"  -h, --help    this text\n"
		"  -V, --version the version\n",
		PROG);
}

static int run_multi(void)
{
	uint64_t region; /* needs fx.gran: probe_fs first */
	pid_t *pids = xmalloc(fx.nproc * sizeof(*pids));
	const char *record = fx.record_path;
	int failed = 0, fd;

	fd = open(fx.path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		setup_error("create %s: %s", fx.path, strerror(errno));
	fx.fd = fd;
	probe_fs(true);
	region = align_down(fx.maxlen / fx.nproc, fx.gran);
	if (region < fx.gran)
		setup_error("maxlen 0x%" PRIx64 " is too small for %u processes", fx.maxlen,
			    fx.nproc);
	fx.maxlen = region * fx.nproc;
	fx.maxoplen = min_u64(fx.maxoplen, region);
	if (ftruncate(fd, fx.maxlen))
		setup_error("ftruncate %s: %s", fx.path, strerror(errno));
	setup_daxfs_ops(); /* asks the mount through fd */
	close(fd);
	scratch_layout();
	create_scratch();
	if (!fx.quiet)
		prt("%s: %u processes, each on 0x%" PRIx64 " bytes, maxoplen 0x%" PRIx64
		    "; truncate, collapse, insert disabled\n",
		    PROG, fx.nproc, region, fx.maxoplen);
	for (int c = 0; c < NR_CLASSES; c++)
		if (classes[c].flags & CF_SHIFT)
			classes[c].off = true;
	fflush(stdout);
	for (unsigned int i = 0; i < fx.nproc; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			setup_error("fork: %s", strerror(errno));
		if (pids[i])
			continue;
		fx.proc = i;
		fx.salt = i + 1;
		fx.seed += i;
		fx.rng = fx.seed;
		fx.rs = region * i;
		fx.re = fx.rs + region;
		snprintf(fx.prefix, sizeof(fx.prefix), "[%u] ", i);
		fx.ops_out = xasprintf("%s.fsxops.%u", fx.path, i);
		if (record)
			record = xasprintf("%s.%u", record, i);
		run_process(NULL, record);
		fflush(stdout);
		_exit(0);
	}
	for (unsigned int left = fx.nproc; left; left--) {
		int status;
		pid_t p = wait(&status);

		if (p < 0)
			break;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			continue;
		for (unsigned int i = 0; i < fx.nproc; i++) {
			if (pids[i] == p) {
				prt("%s: process %u (seed %" PRIu64 ") failed\n", PROG, i,
				    fx.seed + i);
				pids[i] = 0;
			} else if (pids[i] > 0 && !failed) {
				/* With -N 0 the others would run forever. */
				kill(pids[i], SIGTERM);
			}
		}
		failed = 1;
	}
	free(pids);
	return failed;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"replay", required_argument, NULL, 'Y'},
	    {"record", required_argument, NULL, 'Z'},
	    {"strict-holes", no_argument, NULL, 'H'},
	    {"loose-holes", no_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"no-daxfs-ops", no_argument, NULL, 'D'},
	    {"hold-maps", required_argument, NULL, 'M'},
	    {"lease-break-time", required_argument, NULL, 'B'},
	    {NULL, 0, NULL, 0},
	};
	FILE *replay = NULL;
	uint64_t hold_maps = UINT64_MAX;
	double t0, dt;
	uint64_t total;
	int c;

	while ((c = getopt_long(argc, argv, "S:N:l:o:r:w:t:RWFx:m:qvP:p:hV", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'S':
			fx.seed = parse_size(optarg, "seed");
			break;
		case 'N':
			fx.numops = parse_size(optarg, "number of ops");
			break;
		case 'l':
			fx.maxlen = parse_size(optarg, "maxlen");
			break;
		case 'o':
			fx.maxoplen = parse_size(optarg, "maxoplen");
			break;
		case 'r':
			fx.ralign = parse_size(optarg, "read alignment");
			break;
		case 'w':
			fx.walign = parse_size(optarg, "write alignment");
			break;
		case 't':
			fx.talign = parse_size(optarg, "truncate alignment");
			break;
		case 'R':
			classes[C_MAPREAD].off = true;
			break;
		case 'W':
			classes[C_MAPWRITE].off = true;
			break;
		case 'F':
			for (int i = 0; i < NR_CLASSES; i++)
				if (classes[i].flags & CF_FALLOC)
					classes[i].off = true;
			break;
		case 'x':
			disable_classes(optarg);
			break;
		case 'm': {
			char *colon = strchr(optarg, ':');

			if (!colon) {
				fprintf(stderr, "%s: -m wants start:end\n", PROG);
				return EXIT_SETUP;
			}
			*colon = '\0';
			fx.mon_start = parse_size(optarg, "monitor start");
			fx.mon_end = parse_size(colon + 1, "monitor end");
			fx.monitor = true;
			break;
		}
		case 'q':
			fx.quiet = true;
			break;
		case 'v':
			fx.verbose = true;
			break;
		case 'P':
			fx.nproc = parse_size(optarg, "number of processes");
			break;
		case 'p':
			fx.progress = parse_size(optarg, "progress interval");
			break;
		case 'Y':
			fx.replay_path = optarg;
			break;
		case 'Z':
			fx.record_path = optarg;
			break;
		case 'H':
			fx.strict_holes = 1;
			break;
		case 'L':
			fx.strict_holes = 0;
			break;
		case 'D':
			for (int i = 0; i < NR_CLASSES; i++)
				if (classes[i].flags & CF_DAXFS)
					classes[i].off = true;
			break;
		case 'M':
			hold_maps = parse_size(optarg, "number of held mappings");
			if (hold_maps > 64) {
				fprintf(stderr, "%s: --hold-maps takes 0 to 64\n", PROG);
				return EXIT_SETUP;
			}
			break;
		case 'B': {
			uint64_t v = parse_size(optarg, "lease break time");

			if (!v || v > 3600) {
				fprintf(stderr, "%s: --lease-break-time takes 1 to 3600\n", PROG);
				return EXIT_SETUP;
			}
			fx.lease_break_time = v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", PROG, DAXFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_SETUP;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_SETUP;
	}
	fx.path = argv[optind];
	fx.pagesize = sysconf(_SC_PAGESIZE);
	if (fx.replay_path) {
		if (fx.nproc > 1) {
			fprintf(stderr, "%s: --replay runs one process; drop -P\n", PROG);
			return EXIT_SETUP;
		}
		replay = fopen(fx.replay_path, "r");
		if (!replay) {
			fprintf(stderr, "%s: %s: %s\n", PROG, fx.replay_path, strerror(errno));
			return EXIT_SETUP;
		}
		read_replay_header(replay);
		if (hold_maps != UINT64_MAX && hold_maps != fx.hold_maps)
			fprintf(stderr,
				"%s: --hold-maps ignored: the replay holds %u, as recorded\n", PROG,
				fx.hold_maps);
		hold_maps = UINT64_MAX;
	} else if (!fx.seed) {
		fx.seed = ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16)) % 1000000000 + 1;
	}
	if (hold_maps != UINT64_MAX)
		fx.hold_maps = hold_maps;
	if (!fx.maxlen || fx.maxlen > (1ull << 32) || !fx.ralign || !fx.walign || !fx.talign ||
	    !fx.nproc || fx.nproc > 64 || fx.numops > UINT32_MAX - 1 || fx.hold_maps > 64) {
		fprintf(stderr, "%s: option out of range\n", PROG);
		return EXIT_SETUP;
	}
	if (!fx.maxoplen || fx.maxoplen > fx.maxlen)
		fx.maxoplen = fx.maxlen;
	fx.rng = fx.seed;
	fx.multi = fx.nproc > 1;
	fx.ops_out = xasprintf("%s.fsxops", fx.path);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGBUS, on_sigbus);
	if (replay)
		prt("%s: replaying %s (recorded with seed %" PRIu64 ")\n", PROG, fx.replay_path,
		    fx.seed);
	else
		prt("%s: seed %" PRIu64 "\n", PROG, fx.seed);

	t0 = now();
	if (fx.multi) {
		if (run_multi())
			return EXIT_FAIL;
		total = fx.numops * fx.nproc;
	} else {
		run_process(replay, fx.record_path);
		total = fx.done;
	}
	dt = now() - t0;
	unlink(fx.scratch_path);
	printf("%s: %" PRIu64 " ops, seed %" PRIu64 ", OK (%.0f ops/s)\n", PROG, total, fx.seed,
	       dt > 0 ? total / dt : 0.0);
	return 0;
}
