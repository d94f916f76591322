/* SPDX-License-Identifier: MIT */
/*
 * unit_reap.c - the quarantine reaper does a bounded piece of work per
 * hold of pin_lock and the transaction (issue 12).  It used to free a
 * record left by a crashed daemon in one hold, block by block, checking
 * every other record for each block: a long record (or a damaged one)
 * kept every mapping and every change waiting.  Now each hold frees at
 * most DX_REAP_BLOCKS blocks and checks at most DX_REAP_RECORDS holders;
 * a long record shrinks in the transaction that frees its first blocks.
 * A commit ends each hold, so the number of commits shows the bound.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core.h"
#include "csum.h"
#include "unit.h"

#define POOL_SIZE (64ULL << 20)
/* the long record: more than eight holds' worth */
#define LONG (8 * DX_REAP_BLOCKS + 100)
#define OVERLAP 10 /* of its last blocks, also held by a live record */
#define LIVE_LEN 30
#define MANY 200 /* one-block records */

static uint64_t commits(struct daxfs *fs)
{
	return fs->jr.hdr->seq;
}

static bool in_use(struct daxfs *fs, uint64_t b)
{
	return fs->bitmap[b >> 6] >> (b & 63) & 1;
}

/* A quarantine record as a crashed daemon leaves it; live: its holder is
 * this process, else a holder that is gone. */
static void plant(struct daxfs *fs, size_t slot, uint64_t pblk, uint64_t n, bool live)
{
	struct dx_maprec *r = &fs->maprecs[slot];
	uint64_t start = 0;

	memset(r, 0, sizeof(*r));
	r->pblk = pblk;
	r->nblocks = n;
	r->id = slot + 1;
	if (live) {
		dx_holder_start(getpid(), &start);
		r->holder_pid = (uint64_t)getpid();
		r->holder_start = start;
		r->holder_boot = dx_boot_id();
	}
	r->kind = DX_MAPREC_QUARANTINE;
	/* As the daemon writes it: a metadata_csum pool checks it at open. */
	r->csum = dx_csum_maprec(fs->csum_seed, slot, r);
	dx_persist(&fs->pc, r, sizeof(*r));
}

/* Blocks out of the free pool and into no file, for the records to hold. */
static uint64_t take_blocks(struct daxfs *fs, uint64_t n)
{
	uint64_t p = 0, got;

	dx_tx_begin(fs);
	got = dx_alloc_blocks(fs, 0, n, &p);
	dx_tx_commit(fs);
	T_EQ(got, n, "%llu contiguous blocks", (unsigned long long)n);
	return p;
}

static void test_long_record(void)
{
	const char *path = t_path("long");
	uint64_t p, free0, c0, c;
	struct daxfs_stats s;
	struct daxfs *fs;
	bool ok = true;

	T_EQ(t_mkfs(path, POOL_SIZE, 0), 0, "mkfs");
	fs = t_open(path);
	p = take_blocks(fs, LONG + LIVE_LEN - OVERLAP);
	plant(fs, 0, p, LONG, false);
	plant(fs, 1, p + LONG - OVERLAP, LIVE_LEN, true);
	daxfs_close(fs);

	fs = t_open(path);
	daxfs_get_stats(fs, &s);
	T_EQ(s.quarantined_blocks, LONG + LIVE_LEN, "both records count at open");
	free0 = fs->free_blocks;
	c0 = commits(fs);
	daxfs_tick(fs);
	c = commits(fs) - c0;
	T(c >= (LONG + DX_REAP_BLOCKS - 1) / DX_REAP_BLOCKS,
	  "the %u-block record took %llu commits (at most %u blocks per hold)", LONG,
	  (unsigned long long)c, DX_REAP_BLOCKS);
	T_EQ(fs->maprecs[0].kind, 0, "the dead holder's record is gone");
	T_EQ(fs->free_blocks, free0 + LONG - OVERLAP, "its blocks are free but the shared ones");
	for (uint64_t b = p; b < p + LONG + LIVE_LEN - OVERLAP; b++)
		ok &= in_use(fs, b) == (b >= p + LONG - OVERLAP);
	T(ok, "in the bitmap: the live record's blocks in use, the rest free");
	T(fs->maprecs[1].kind == DX_MAPREC_QUARANTINE && fs->maprecs[1].pblk == p + LONG - OVERLAP &&
		  fs->maprecs[1].nblocks == LIVE_LEN,
	  "the live holder's record is untouched");
	daxfs_get_stats(fs, &s);
	T_EQ(s.quarantined_blocks, LIVE_LEN, "quarantined: the live record's blocks");
	T_EQ(t_fsck(fs, false), 0, "the pool is consistent");
	daxfs_close(fs);
}

/* A record shrunk by a hold (as a crash between two holds leaves it) is
 * an ordinary record: the next mount counts and frees what is left. */
static void test_shrunk_record(void)
{
	const char *path = t_path("shrunk");
	uint64_t p, free0;
	struct daxfs_stats s;
	struct daxfs *fs;

	T_EQ(t_mkfs(path, POOL_SIZE, 0), 0, "mkfs");
	fs = t_open(path);
	p = take_blocks(fs, 3 * DX_REAP_BLOCKS);
	/* what the first hold of a 3 * DX_REAP_BLOCKS record leaves */
	dx_tx_begin(fs);
	dx_free_blocks(fs, p, DX_REAP_BLOCKS);
	dx_tx_commit(fs);
	plant(fs, 0, p + DX_REAP_BLOCKS, 2 * DX_REAP_BLOCKS, false);
	daxfs_close(fs);
	fs = t_open(path);
	daxfs_get_stats(fs, &s);
	T_EQ(s.quarantined_blocks, 2 * DX_REAP_BLOCKS, "the rest of the record counts at open");
	T_EQ(t_fsck(fs, false), 0, "the pool with a shrunk record is consistent");
	free0 = fs->free_blocks;
	daxfs_tick(fs);
	T_EQ(fs->free_blocks, free0 + 2 * DX_REAP_BLOCKS, "the rest is freed");
	T_EQ(fs->maprecs[0].kind, 0, "and the record gone");
	T_EQ(t_fsck(fs, false), 0, "the pool is consistent");
	daxfs_close(fs);
}

static void test_many_records(void)
{
	const char *path = t_path("many");
	uint64_t p, free0, c0, c;
	struct daxfs *fs;
	int left = 0;

	T_EQ(t_mkfs(path, POOL_SIZE, 0), 0, "mkfs");
	fs = t_open(path);
	p = take_blocks(fs, MANY);
	for (size_t i = 0; i < MANY; i++)
		plant(fs, i, p + i, 1, false);
	daxfs_close(fs);

	fs = t_open(path);
	free0 = fs->free_blocks;
	c0 = commits(fs);
	daxfs_tick(fs);
	c = commits(fs) - c0;
	T(c >= (MANY + DX_REAP_RECORDS - 1) / DX_REAP_RECORDS,
	  "%d records took %llu commits (at most %u holder checks per hold)", MANY,
	  (unsigned long long)c, DX_REAP_RECORDS);
	for (size_t i = 0; i < MANY; i++)
		left += fs->maprecs[i].kind != 0;
	T_EQ(left, 0, "every record is gone");
	T_EQ(fs->free_blocks, free0 + MANY, "and its block free");
	T_EQ(t_fsck(fs, false), 0, "the pool is consistent");
	daxfs_close(fs);
}

static void body(void)
{
	test_long_record();
	test_shrunk_record();
	test_many_records();
}

int main(void)
{
	return t_run("reap", body);
}
