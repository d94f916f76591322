/* SPDX-License-Identifier: MIT */
/*
 * fsx.h - what fsx.c (the tester, the file operations) and daxfs_ops.c
 * (the operations only a daxfs mount has) share: the op tables, the
 * state of the run and the checking and reporting helpers.
 */
#ifndef FSX_H
#define FSX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "model.h"

#define PROG	     "daxfs-fsx"
#define RING_LEN     32
#define CHECK_EVERY  1000
#define POOL_EVERY   100 /* daxfs: compare the pool itself, past the page cache */
#define SCRATCH_SALT 0x5c7a7c4u
#define EXIT_FAIL    1
#define EXIT_SETUP   2

enum opcode {
	OP_READ,
	OP_WRITE,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_TRUNCATE,
	OP_FALLOC,
	OP_FALLOC_KEEP,
	OP_PUNCH,
	OP_ZERO,
	OP_ZERO_KEEP,
	OP_COLLAPSE,
	OP_INSERT,
	OP_COPY,
	OP_COPY_SCRATCH,
	OP_SEEK_DATA,
	OP_SEEK_HOLE,
	OP_FSYNC,
	OP_FDATASYNC,
	OP_REOPEN,
	/* daxfs only (daxfs_ops.c) */
	OP_DXMAP,
	OP_LEASE,
	OP_PIN_TRUNCATE, /* the four layout changes, in this order, ... */
	OP_PIN_PUNCH,
	OP_PIN_COLLAPSE,
	OP_PIN_INSERT,
	OP_BREAK_TRUNCATE, /* ... for each of pin, break and revoke */
	OP_BREAK_PUNCH,
	OP_BREAK_COLLAPSE,
	OP_BREAK_INSERT,
	OP_REVOKE_TRUNCATE,
	OP_REVOKE_PUNCH,
	OP_REVOKE_COLLAPSE,
	OP_REVOKE_INSERT,
	OP_DMA_IN,
	OP_DMA_OUT,
	OP_CLONE,	  /* DAXFS_IOC_CLONE_RANGE within the file ... */
	OP_CLONE_SCRATCH, /* ... and from the copy file */
	OP_SNAPSHOT,	  /* a read mapping of shared blocks keeps its bytes */
	OP_COHERENT,	  /* ... unless DAXFS_MAP_COHERENT asks for later writes */
	NR_OPCODES
};

enum opclass {
	C_READ,
	C_WRITE,
	C_MAPREAD,
	C_MAPWRITE,
	C_TRUNCATE,
	C_FALLOC,
	C_PUNCH,
	C_ZERO,
	C_COLLAPSE,
	C_INSERT,
	C_COPY,
	C_SEEK,
	C_FSYNC,
	C_REOPEN,
	C_DXMAP,
	C_LEASE,
	C_PINNED,
	C_BREAK,
	C_REVOKE,
	C_DMA,
	C_CLONE,
	C_SNAPSHOT,
	NR_CLASSES
};

/* What follows the name on an op line: that many numbers, in the order
 * of the fields of struct op from off on. */
enum op_args {
	A_NONE,	  /* fsync */
	A_OFF,	  /* truncate SIZE, seek_data OFFSET */
	A_RANGE,  /* write OFFSET LENGTH */
	A_COPY,	  /* copy SRC LENGTH DST */
	A_DMA,	  /* dma_in OFFSET LENGTH CHUNK */
	A_CHANGE, /* pin_punch MAPOFF MAPLEN OFFSET LENGTH */
	A_MAP,	  /* map MAPOFF MAPLEN WOFF WLEN PERSIST HOLD */
};

struct op {
	uint32_t num;
	enum opcode code;
	uint64_t off;
	uint64_t len;
	uint64_t dst;	  /* copy: destination; dma: chunk; daxfs ops: second offset */
	uint64_t len2;	  /* daxfs ops: second length */
	uint64_t persist; /* map: persist the bytes written before going on */
	uint64_t hold;	  /* map: keep the mapping for this many ops */
};

enum run_result {
	RUN_OK,
	RUN_UNSUPPORTED, /* the filesystem lacks it: disable the class */
};

struct opcode_desc {
	const char *name;
	enum opclass cls;
	enum op_args args;
	enum run_result (*run)(const struct op *op);
};

/* Class flags. */
#define CF_FALLOC 0x1 /* an fallocate(2) mode: -F disables it */
#define CF_SHIFT  0x2 /* moves data or EOF: not with -P */
#define CF_DAXFS  0x4 /* only meaningful on a daxfs mount */

struct op_class {
	const char *name;
	unsigned int weight;
	unsigned int flags;
	int (*gen)(struct op *op); /* 0: op filled in; -1: not possible now */
	bool off;		   /* disabled by the user or the filesystem */
};

struct ring_ent {
	struct op op;
	uint64_t size_before;
};

struct fsx {
	/* options */
	const char *path;
	uint64_t seed;
	uint64_t numops;
	uint64_t maxlen;
	uint64_t maxoplen;
	uint64_t ralign, walign, talign;
	bool quiet, verbose;
	bool monitor;
	uint64_t mon_start, mon_end;
	unsigned int nproc;
	uint64_t progress;
	const char *replay_path;
	const char *record_path;
	unsigned int hold_maps;	       /* --hold-maps */
	unsigned int lease_break_time; /* --lease-break-time; 0: unknown */

	/* this process */
	int fd;
	bool is_daxfs;
	dev_t dev;	  /* reopen must find the file where it was */
	int strict_holes; /* -1: decide by filesystem type */
	uint64_t pagesize;
	uint64_t gran;	 /* hole granularity (coarse, safe) */
	uint64_t fine;	 /* smallest unit a hole can have */
	uint64_t falign; /* collapse/insert alignment */
	struct model m;
	uint64_t rs, re; /* the region this process owns */
	bool multi;
	unsigned int proc;
	uint32_t salt;
	uint64_t rng;
	uint32_t curop;
	uint64_t done;
	uint8_t *buf;

	int scratch_fd;
	char *scratch_path;
	uint64_t scratch_len;
	uint8_t *scratch_data;
	uint8_t *scratch_state;

	FILE *log;
	char *ops_out; /* replay file written on failure */
	char prefix[16];

	struct ring_ent ring[RING_LEN];
	uint64_t ring_n;
};

extern struct fsx fx;
extern const struct opcode_desc opcodes[NR_OPCODES];
extern struct op_class classes[NR_CLASSES];

/* fsx.c */
uint64_t min_u64(uint64_t a, uint64_t b);
uint64_t max_u64(uint64_t a, uint64_t b);
uint64_t align_down(uint64_t x, uint64_t a);
uint64_t align_up(uint64_t x, uint64_t a);
void prt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void setup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xmalloc(size_t n);
uint64_t rnd(void);
uint64_t rnd_below(uint64_t n);
void fill_pattern(uint8_t *buf, uint64_t off, uint64_t len, uint32_t num, uint32_t salt);
void check_bytes(const char *what, uint64_t off, const uint8_t *got, uint64_t len);
ssize_t pread_full(int fd, uint8_t *buf, uint64_t len, uint64_t off);
void full_check(const char *why);
uint64_t gen_len(uint64_t max);
int gen_off(uint64_t lo, uint64_t hi, uint64_t align, uint64_t *off);
bool op_touches(const struct op *op, uint64_t size_before, uint64_t s, uint64_t e);
void model_copy_op(const struct op *op, bool scratch);

/* daxfs_ops.c: the daxfs classes' generators and executors ... */
int gen_dxmap(struct op *op);
int gen_lease(struct op *op);
int gen_pinned(struct op *op);
int gen_break(struct op *op);
int gen_revoke(struct op *op);
int gen_dma(struct op *op);
int gen_clone(struct op *op);
int gen_snapshot(struct op *op);
enum run_result run_dxmap(const struct op *op);
enum run_result run_lease(const struct op *op);
enum run_result run_change(const struct op *op);
enum run_result run_dma(const struct op *op);
enum run_result run_clone(const struct op *op);
enum run_result run_snapshot(const struct op *op);
/* ... and the hooks the tester calls around every op */
void dx_probe(void);
void dx_setup(void);
void dx_before_op(const struct op *op);
void dx_after_op(const struct op *op, uint64_t size_before);
void dx_flush_held(void);
void dx_pool_check(void);
void dx_read_pool(const char *what, uint64_t off, uint64_t len);
void dx_check_held(const char *why);
void dx_unmap_all(void);
void dx_finish(void);
void dx_fail_info(void);
const char *dx_op_invalid(const struct op *op);
void dx_describe(char *s, size_t n, const struct op *op);

#endif
