/* SPDX-License-Identifier: MIT */
/* fault.c - see fault.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "fault.h"

static const struct {
	const char *name;
	enum dx_fault bit;
} names[] = {
	{"skip-busy-check", DX_FAULT_SKIP_BUSY_CHECK},
	{"drop-persist", DX_FAULT_DROP_PERSIST},
	{"stale-read", DX_FAULT_STALE_READ},
	{"early-free", DX_FAULT_EARLY_FREE},
	{"missing-drain", DX_FAULT_MISSING_DRAIN},
	{"late-store", DX_FAULT_LATE_STORE},
	{"cow-skip", DX_FAULT_COW_SKIP},
	{"cow-map-skip", DX_FAULT_COW_MAP_SKIP},
	{"refc-skip", DX_FAULT_REFC_SKIP},
	{"snap-ref-skip", DX_FAULT_SNAP_REF_SKIP},
};

const struct dx_inject *dx_inject_hook;

int dx_fault_init(struct daxfs *fs)
{
	const char *env = getenv("DAXFS_FAULT");
	char buf[256], *save = NULL;

	fs->faults = 0;
	if (!env || !*env)
		return 0;
#ifndef DAXFS_FAULT_INJECTION
	return dx_err(-EINVAL, "DAXFS_FAULT is set, but this build has no fault injection "
			       "(configure with -Dfault_injection=true)");
#endif
	if (strlen(env) >= sizeof(buf))
		return dx_err(-EINVAL, "DAXFS_FAULT is too long");
	strcpy(buf, env);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(t, names[i].name))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return dx_err(-EINVAL, "DAXFS_FAULT: unknown fault '%s'", t);
		fs->faults |= names[i].bit;
	}
	return 0;
}

#ifdef DAXFS_FAULT_INJECTION
bool dx_fault(struct daxfs *fs, enum dx_fault f)
{
	return fs->faults & f;
}
#endif
