/*
 * config-doc.c — prints the configuration reference, its manual page or the example file.
 *
 * docs/CONFIG.md, docs/vsmtpd.conf.5 and etc/vsmtpd.conf.example are
 * generated, never edited (`make docs` runs all three):
 *   build/config-doc > docs/CONFIG.md
 *   build/config-doc man > docs/vsmtpd.conf.5
 *   build/config-doc example > etc/vsmtpd.conf.example
 * All come from src/config_keys.c (the key table); the config unit tests
 * fail when a committed file differs from what this prints.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lib/buf.h"

int main(int argc, char **argv)
{
	struct buf out = BUF_INIT;
	if (argc == 2 && strcmp(argv[1], "example") == 0) {
		config_write_example(&out);
	} else if (argc == 2 && strcmp(argv[1], "man") == 0) {
		config_write_man(&out);
	} else if (argc == 1) {
		config_write_reference(&out);
	} else {
		fprintf(stderr, "usage: config-doc [example | man]\n");
		return 2;
	}
	int rc = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0 ? 0 : 1;
	buf_free(&out);
	return rc;
}
