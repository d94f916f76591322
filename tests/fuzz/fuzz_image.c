/* SPDX-License-Identifier: MIT */
/* fuzz_image.c - decoding a fuzzer input into a pool file (see fuzz.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core.h"
#include "fuzz.h"

/* A seed pool: its size and its non-zero blocks. */
struct seed {
	uint64_t size;
	uint64_t nblk; /* non-zero blocks */
	uint64_t *blkno;
	char *data; /* nblk * DX_BLOCK_SIZE */
};

static struct seed *seeds;
static size_t nseeds;
static int raw;
static const char *dump;
static char pool[64];
static char *scratch; /* the blocks of the seed being mutated */
#define MAX_EXTRA 16
static char extra[MAX_EXTRA][DX_BLOCK_SIZE]; /* mutated zero blocks */
static uint64_t extra_no[MAX_EXTRA];

static void fatal(const char *what, const char *arg)
{
	fprintf(stderr, "fuzz: %s %s: %s\n", what, arg, strerror(errno));
	exit(1);
}

static void load_seed(const char *path)
{
	static char blk[DX_BLOCK_SIZE];
	static const char zero[DX_BLOCK_SIZE];
	struct seed s = {0};
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		fatal("cannot open seed", path);
	s.size = (uint64_t)st.st_size;
	for (uint64_t b = 0; b < s.size / DX_BLOCK_SIZE; b++) {
		if (pread(fd, blk, sizeof(blk), (off_t)(b * DX_BLOCK_SIZE)) != sizeof(blk))
			fatal("cannot read seed", path);
		if (!memcmp(blk, zero, sizeof(blk)))
			continue;
		s.blkno = realloc(s.blkno, (s.nblk + 1) * sizeof(*s.blkno));
		s.data = realloc(s.data, (s.nblk + 1) * DX_BLOCK_SIZE);
		if (!s.blkno || !s.data)
			fatal("out of memory for", path);
		s.blkno[s.nblk] = b;
		memcpy(s.data + s.nblk * DX_BLOCK_SIZE, blk, DX_BLOCK_SIZE);
		s.nblk++;
	}
	close(fd);
	seeds = realloc(seeds, (nseeds + 1) * sizeof(*seeds));
	if (!seeds)
		fatal("out of memory for", path);
	seeds[nseeds++] = s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_seeds(const char *dir)
{
	char *names[64], path[4096];
	size_t n = 0, maxblk = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		fatal("cannot open seed directory", dir);
	while ((de = readdir(d)) && n < 64) {
		size_t l = strlen(de->d_name);
		if (l > 5 && !strcmp(de->d_name + l - 5, ".pool"))
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (!n) {
		errno = ENOENT;
		fatal("no *.pool seeds in", dir);
	}
	/* sorted, so that byte 0 of an input names the same seed every run */
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		load_seed(path);
		free(names[i]);
		if (seeds[i].nblk > maxblk)
			maxblk = seeds[i].nblk;
	}
	scratch = malloc(maxblk * DX_BLOCK_SIZE);
	if (!scratch)
		fatal("out of memory for", dir);
}

static void cleanup(void)
{
	unlink(pool);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("DAXFS_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	/* No real pmem: libpmem must still take its pmem paths (it reads
	 * this at its first pmem_is_pmem). */
	setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	raw = getenv("DAXFS_FUZZ_RAW") && atoi(getenv("DAXFS_FUZZ_RAW"));
	dump = getenv("DAXFS_FUZZ_DUMP");
	snprintf(pool, sizeof(pool), "/dev/shm/daxfs-fuzz-%d.pool", (int)getpid());
	atexit(cleanup);
	if (!raw) {
		if (!dir) {
			fprintf(stderr, "fuzz: set DAXFS_FUZZ_SEEDS to a directory of seed pools "
					"(fuzz-mkseed DIR), or DAXFS_FUZZ_RAW=1\n");
			exit(1);
		}
		load_seeds(dir);
	}
	return 0;
}

static void write_all(int fd, const void *p, size_t len, uint64_t off)
{
	if (pwrite(fd, p, len, (off_t)off) != (ssize_t)len)
		fatal("cannot write", pool);
}

/* Recreate the pool file from the seed s with the mutations in data.
 * Returns the flags of byte 1. */
static unsigned write_mutated(int fd, const uint8_t *data, size_t size)
{
	const struct seed *s = &seeds[size ? data[0] % nseeds : 0];
	int fix_csum = size > 1 && (data[1] & FUZZ_FIX_SUPER);
	uint64_t nblocks = s->size / DX_BLOCK_SIZE;
	size_t nextra = 0, i = 2;

	memcpy(scratch, s->data, s->nblk * DX_BLOCK_SIZE);
	while (i + 5 <= size) {
		unsigned blk = data[i] | data[i + 1] << 8;
		unsigned off = (data[i + 2] | data[i + 3] << 8) % DX_BLOCK_SIZE;
		size_t len = data[i + 4] % 32 + 1;
		char *p = NULL;

		i += 5;
		if (len > size - i)
			len = size - i;
		if (len > DX_BLOCK_SIZE - off)
			len = DX_BLOCK_SIZE - off;
		if (blk < 0x8000 && s->nblk) {
			p = scratch + (blk % s->nblk) * DX_BLOCK_SIZE;
		} else if (nblocks) {
			uint64_t b = (blk & 0x7fff) % nblocks;
			size_t k;
			/* a seed block by number goes to its copy */
			for (k = 0; k < s->nblk && s->blkno[k] != b; k++)
				;
			if (k < s->nblk) {
				p = scratch + k * DX_BLOCK_SIZE;
			} else {
				for (k = 0; k < nextra && extra_no[k] != b; k++)
					;
				if (k == nextra && nextra < MAX_EXTRA) {
					memset(extra[k], 0, DX_BLOCK_SIZE);
					extra_no[nextra++] = b;
				}
				if (k < nextra)
					p = extra[k];
			}
		}
		if (p)
			memcpy(p + off, data + i, len);
		i += len;
	}
	if (fix_csum && s->nblk && s->blkno[0] == 0) {
		struct dx_super *sb = (struct dx_super *)scratch;
		sb->csum = dx_super_csum(sb);
	}
	/* A file of the seed's size whose only non-zero blocks are these:
	 * cheap on tmpfs, where the untouched rest costs nothing. */
	if (ftruncate(fd, (off_t)s->size) < 0)
		fatal("cannot size", pool);
	for (uint64_t k = 0; k < s->nblk; k++)
		write_all(fd, scratch + k * DX_BLOCK_SIZE, DX_BLOCK_SIZE,
			  s->blkno[k] * DX_BLOCK_SIZE);
	for (size_t k = 0; k < nextra; k++)
		write_all(fd, extra[k], DX_BLOCK_SIZE, extra_no[k] * DX_BLOCK_SIZE);
	return size > 1 ? data[1] : 0;
}

/* Make every checksum of the pool in fd match its damaged contents again,
 * so that the mutations reach past the checksum checks into the loaders
 * and verifiers behind them. */
static void fix_metadata_csums(int fd)
{
	struct stat st;
	void *base;

	if (fstat(fd, &st) < 0 || st.st_size < (off_t)DX_BLOCK_SIZE)
		return;
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		fatal("cannot map", pool);
	fuzz_fix_csums(base, (size_t)st.st_size);
	munmap(base, (size_t)st.st_size);
}

static void copy_to_dump(int fd)
{
	char buf[1 << 16];
	struct stat st;
	int out = open(dump, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (out < 0 || fstat(fd, &st) < 0)
		fatal("cannot write", dump);
	for (off_t off = 0; off < st.st_size;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n <= 0)
			fatal("cannot read", pool);
		/* keep it sparse */
		static const char zero[sizeof(buf)];
		if (memcmp(buf, zero, (size_t)n) && pwrite(out, buf, (size_t)n, off) != n)
			fatal("cannot write", dump);
		off += n;
	}
	if (ftruncate(out, st.st_size) < 0)
		fatal("cannot size", dump);
	close(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = open(pool, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		fatal("cannot create", pool);
	if (raw)
		write_all(fd, data, size, 0);
	else if (write_mutated(fd, data, size) & FUZZ_FIX_ALL)
		fix_metadata_csums(fd);
	if (dump)
		copy_to_dump(fd);
	close(fd);
	fuzz_target(pool);
	return 0;
}
