/* SPDX-License-Identifier: MIT */
/*
 * fuzz_main.c - the driver of a fuzz target in a build without libFuzzer:
 * runs the target once on each input file named on the command line, as
 * a libFuzzer binary does with file arguments.  The suite replays the
 * regression inputs this way in every build tree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		size_t n = 0, cap = 0;

		if (!f) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		for (;;) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1 << 16;
				buf = realloc(buf, cap);
				if (!buf) {
					fprintf(stderr, "out of memory\n");
					return 1;
				}
			}
			size_t r = fread(buf + n, 1, cap - n, f);
			if (!r)
				break;
			n += r;
		}
		fclose(f);
		fprintf(stderr, "Running: %s (%zu bytes)\n", argv[i], n);
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
	}
	return 0;
}
