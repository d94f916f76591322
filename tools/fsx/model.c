// SPDX-License-Identifier: MIT
/*
 * model.c - the in-memory model of the file under test.
 *
 * Allocation knowledge is kept per byte but judged per granule (the
 * filesystem's block size or page size, whichever is larger): a granule is
 * a certain hole only when every byte of it is SEG_HOLE.  The rules below
 * err towards SEG_UNKNOWN whenever a real filesystem may legitimately keep
 * or create an allocation, because reporting a hole as data is allowed.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

int model_init(struct model *m, uint64_t maxlen, uint64_t gran)
{
	memset(m, 0, sizeof(*m));
	m->maxlen = maxlen;
	m->gran = gran;
	m->cap = round_up(maxlen, gran);
	m->data = calloc(m->cap, 1);
	m->state = calloc(m->cap, 1); /* SEG_HOLE: the file starts empty */
	m->owner = calloc(m->cap, sizeof(*m->owner));
	if (!m->data || !m->state || !m->owner) {
		model_free(m);
		return -1;
	}
	return 0;
}

void model_free(struct model *m)
{
	free(m->data);
	free(m->state);
	free(m->owner);
	m->data = m->state = NULL;
	m->owner = NULL;
}

static void set_owner(struct model *m, uint64_t off, uint64_t end, uint32_t op)
{
	for (uint64_t i = off; i < end; i++)
		m->owner[i] = op;
}

/* Holes in [off, end) become unknown; data stays data. */
static void unhole(struct model *m, uint64_t off, uint64_t end)
{
	end = min_u64(end, m->cap);
	for (uint64_t i = off; i < end; i++)
		if (m->state[i] == SEG_HOLE)
			m->state[i] = SEG_UNKNOWN;
}

void model_write(struct model *m, uint64_t off, uint64_t len, const uint8_t *buf, uint32_t op)
{
	memcpy(m->data + off, buf, len);
	memset(m->state + off, SEG_DATA, len);
	set_owner(m, off, off + len, op);
	m->size = max_u64(m->size, off + len);
}

void model_truncate(struct model *m, uint64_t size, uint32_t op)
{
	uint64_t b;

	if (size >= m->size) {
		/* Growing reveals bytes that are already zero in the model. */
		m->size = size;
		return;
	}
	memset(m->data + size, 0, m->size - size);
	set_owner(m, size, m->size, op);
	/*
	 * Shrinking frees every granule wholly beyond the new EOF (including
	 * preallocations past the old EOF); the granule holding the new EOF
	 * stays as it was, so what was allocated in it may remain so.
	 */
	b = min_u64(round_up(size, m->gran), m->cap);
	for (uint64_t i = size; i < b; i++)
		if (m->state[i] == SEG_DATA)
			m->state[i] = SEG_UNKNOWN;
	memset(m->state + b, SEG_HOLE, m->cap - b);
	m->tail = SEG_HOLE;
	m->size = size;
}

void model_alloc(struct model *m, uint64_t off, uint64_t len, bool keep)
{
	unhole(m, off, off + len);
	if (!keep)
		m->size = max_u64(m->size, off + len);
}

void model_punch(struct model *m, uint64_t off, uint64_t len, uint32_t op)
{
	uint64_t end = off + len;
	uint64_t lim = round_up(m->size, m->gran); /* punching stops here (ext4) */
	uint64_t zend = min_u64(end, m->size);
	uint64_t g;

	if (zend > off) {
		memset(m->data + off, 0, zend - off);
		set_owner(m, off, zend, op);
	}
	for (g = off / m->gran * m->gran; g < end; g += m->gran) {
		uint64_t s = max_u64(g, off), e = min_u64(g + m->gran, end);

		if (g >= off && g + m->gran <= end && g + m->gran <= lim) {
			memset(m->state + g, SEG_HOLE, m->gran);
			continue;
		}
		/* Partly punched granules are zeroed in place, not freed. */
		for (uint64_t i = s; i < e; i++)
			if (m->state[i] != SEG_HOLE)
				m->state[i] = SEG_UNKNOWN;
	}
}

void model_zero(struct model *m, uint64_t off, uint64_t len, bool keep, uint32_t op)
{
	uint64_t end = off + len;

	if (!keep)
		m->size = max_u64(m->size, end);
	if (min_u64(end, m->size) > off) {
		memset(m->data + off, 0, min_u64(end, m->size) - off);
		set_owner(m, off, min_u64(end, m->size), op);
	}
	/* Zeroes may be written, or the range may become unwritten extents. */
	memset(m->state + off, SEG_UNKNOWN, len);
}

static uint8_t merge(uint8_t a, uint8_t b)
{
	return a == SEG_HOLE && b == SEG_HOLE ? SEG_HOLE : SEG_UNKNOWN;
}

void model_collapse(struct model *m, uint64_t off, uint64_t len, uint32_t op)
{
	uint64_t newsize = m->size - len;
	uint8_t *old = malloc(m->cap);

	if (!old)
		abort();
	memcpy(old, m->state, m->cap);
	memmove(m->data + off, m->data + off + len, m->size - off - len);
	memset(m->data + newsize, 0, len);
	memmove(m->owner + off, m->owner + off + len, (m->cap - off - len) * sizeof(*m->owner));
	set_owner(m, newsize, m->size, op);
	memmove(m->state + off, old + off + len, m->cap - off - len);
	/* What insert pushed past the end of the model comes back. */
	memset(m->state + m->cap - len, m->tail, len);
	/*
	 * Whether blocks beyond EOF move with the shift or are dropped is the
	 * filesystem's choice: past the new EOF, accept either.
	 */
	for (uint64_t i = newsize; i < m->cap; i++)
		m->state[i] = merge(m->state[i], old[i]);
	m->size = newsize;
	free(old);
}

void model_insert(struct model *m, uint64_t off, uint64_t len, uint32_t op)
{
	uint64_t newsize = m->size + len;
	uint8_t *old = malloc(m->cap);

	if (!old)
		abort();
	memcpy(old, m->state, m->cap);
	/* Blocks pushed past the end of the model still exist there. */
	for (uint64_t i = m->cap - len; i < m->cap; i++)
		if (old[i] != SEG_HOLE)
			m->tail = SEG_UNKNOWN;
	memmove(m->data + off + len, m->data + off, m->size - off);
	memset(m->data + off, 0, len);
	memmove(m->owner + off + len, m->owner + off, (m->cap - off - len) * sizeof(*m->owner));
	set_owner(m, off, off + len, op);
	memmove(m->state + off + len, old + off, m->cap - off - len);
	/* Insert shifts extents up and leaves a real hole behind. */
	memset(m->state + off, SEG_HOLE, len);
	for (uint64_t i = newsize; i < m->cap; i++)
		m->state[i] = merge(m->state[i], old[i]);
	m->size = newsize;
	free(old);
}

void model_copy(struct model *m, uint64_t dst, uint64_t len, const uint8_t *src_data,
		const uint8_t *src_state, uint32_t op)
{
	memmove(m->data + dst, src_data, len);
	/*
	 * Copied data is data however it is copied; a copied hole may be
	 * shared as a hole or written out as zeroes.
	 */
	for (uint64_t i = 0; i < len; i++)
		m->state[dst + i] = src_state && src_state[i] == SEG_DATA ? SEG_DATA : SEG_UNKNOWN;
	set_owner(m, dst, dst + len, op);
	m->size = max_u64(m->size, dst + len);
}

void model_touch_pages(struct model *m, uint64_t off, uint64_t len, uint64_t pagesize)
{
	unhole(m, off / pagesize * pagesize, round_up(off + len, pagesize));
}

bool model_has_data(const struct model *m, uint64_t off, uint64_t len)
{
	uint64_t end = min_u64(off + len, m->cap);

	for (uint64_t i = off; i < end; i++)
		if (m->state[i] == SEG_DATA)
			return true;
	return false;
}

bool model_certain_hole(const struct model *m, uint64_t off)
{
	uint64_t g = off / m->gran * m->gran;
	uint64_t end = min_u64(g + m->gran, m->cap);

	for (uint64_t i = g; i < end; i++)
		if (m->state[i] != SEG_HOLE)
			return false;
	return true;
}
