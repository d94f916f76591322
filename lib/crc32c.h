/* SPDX-License-Identifier: MIT */
/* crc32c.h - CRC-32C (Castagnoli), used for the superblock and journal. */
#ifndef DAXFS_CRC32C_H
#define DAXFS_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0. */
uint32_t dx_crc32c(uint32_t crc, const void *buf, size_t len);
#endif
