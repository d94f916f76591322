/* SPDX-License-Identifier: MIT */
/* errormsg.c - per-thread message of the last failed call, as libpmem does. */
#include <stdarg.h>
#include <stdio.h>
#include "core.h"

static __thread char msg[512];

const char *daxfs_errormsg(void)
{
	return msg;
}

int dx_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err;
}
