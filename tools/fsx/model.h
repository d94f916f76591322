/* SPDX-License-Identifier: MIT */
/*
 * model.h - what the file under test must contain, byte by byte.
 *
 * Besides the expected content the model keeps, for every byte up to the
 * largest size the file may reach (and beyond EOF), what we know about its
 * allocation: certainly data (written), certainly a hole (never written, or
 * punched away), or unknown (preallocated, zeroed, copied from a hole...).
 * SEEK_DATA/SEEK_HOLE answers are judged against that knowledge.
 */
#ifndef FSX_MODEL_H
#define FSX_MODEL_H

#include <stdbool.h>
#include <stdint.h>

enum seg_state {
	SEG_HOLE = 0, /* certainly not allocated */
	SEG_UNKNOWN,  /* the filesystem may report it either way */
	SEG_DATA,     /* certainly written data */
};

struct model {
	uint64_t maxlen; /* the file never grows beyond this */
	uint64_t cap;	 /* array length: maxlen rounded up to gran */
	uint64_t gran;	 /* allocation granularity assumed for holes */
	uint64_t size;	 /* expected st_size */
	uint8_t *data;	 /* expected content; always zero at and beyond size */
	uint8_t *state;	 /* enum seg_state per byte */
	uint32_t *owner; /* op number that last defined each byte (0: none) */
	uint8_t tail;	 /* state of everything at and after cap (insert pushes blocks there) */
};

int model_init(struct model *m, uint64_t maxlen, uint64_t gran);
void model_free(struct model *m);

/* Content changes; op is recorded as the owner of the bytes defined. */
void model_write(struct model *m, uint64_t off, uint64_t len, const uint8_t *buf, uint32_t op);
void model_truncate(struct model *m, uint64_t size, uint32_t op);
void model_alloc(struct model *m, uint64_t off, uint64_t len, bool keep);
void model_punch(struct model *m, uint64_t off, uint64_t len, uint32_t op);
void model_zero(struct model *m, uint64_t off, uint64_t len, bool keep, uint32_t op);
void model_collapse(struct model *m, uint64_t off, uint64_t len, uint32_t op);
void model_insert(struct model *m, uint64_t off, uint64_t len, uint32_t op);

/*
 * Copy len bytes to dst; src_data and src_is_data describe the source
 * (src_is_data may be NULL: nothing of the source is certainly data).
 * The source must not overlap [dst, dst + len) of this model.
 */
void model_copy(struct model *m, uint64_t dst, uint64_t len, const uint8_t *src_data,
		const uint8_t *src_state, uint32_t op);

/* A mapping faulted these pages in: holes in them may now be allocated. */
void model_touch_pages(struct model *m, uint64_t off, uint64_t len, uint64_t pagesize);

/* True if some byte in [off, off + len) is certainly data. */
bool model_has_data(const struct model *m, uint64_t off, uint64_t len);

/* True if the whole granule holding off is certainly a hole. */
bool model_certain_hole(const struct model *m, uint64_t off);

#endif
