/*
 * fuzz_config_edit.c — libFuzzer target for config_edit_apply().
 *
 * The first byte picks edits of [server mx] (its bits: set max_recipients,
 * remove max_message_size, set a relay_networks list too long for one
 * line, set hostname) and, with bits 4 and 5, the check by the loader
 * (slow: each load builds TLS contexts, so three inputs in four explore the
 * editor alone); the rest is the config text. Beyond "no crash and no leak", it checks the
 * contract:
 *  - untouched lines are kept: with the lines that may change left out of
 *    both texts (indented ones, and those starting with an edited key),
 *    input and output hold the same lines in the same order;
 *  - the output parses to what was asked: when the input is a config
 *    config_load() accepts and it has [server mx], the edit succeeds, the
 *    output loads too (or only for a line the loader finds too long: a
 *    value with no cut point that fits), the edited keys read back as set
 *    (a removed one as its default), and every other key of every section
 *    reads as before.
 *
 * Build: make fuzz (clang, libFuzzer); make test replays fuzz/corpus/config_edit.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_edit.h"
#include "config_keys.h"

#define FUZZ_NETS 40
#define FUZZ_LOAD 0x30u		/* first byte: both bits set, check with the loader */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

/* A line of text: its content without the line end, and where the next starts. */
static size_t next_line(const char *s, size_t len, size_t off, size_t *clen)
{
	const char *nl = memchr(s + off, '\n', len - off);
	size_t end = nl != NULL ? (size_t)(nl - s) : len;
	size_t c = end;
	if (c > off && s[c - 1] == '\r')
		c--;
	*clen = c - off;
	return nl != NULL ? end + 1 : len;
}

/* Could this line change? Indented, or a setting of one of the keys. */
static int may_change(const char *l, size_t len, struct config_edit *e, size_t n, int first)
{
	if (first && len >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) {
		l += 3;
		len -= 3;
	}
	if (len > 0 && isspace((unsigned char)l[0]))
		return 1;
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(e[i].key);
		if (len >= k && memcmp(l, e[i].key, k) == 0 &&
		    (len == k || !(isalnum((unsigned char)l[k]) || l[k] == '_' || l[k] == '-')))
			return 1;
	}
	return 0;
}

static void check_kept(const char *in, size_t inlen, const char *out, size_t outlen, struct config_edit *e,
		       size_t n)
{
	size_t a = 0, b = 0, alen = 0, blen = 0;
	for (;;) {
		size_t na = a, nb = b;
		while (a < inlen && (na = next_line(in, inlen, a, &alen), may_change(in + a, alen, e, n, a == 0)))
			a = na;
		while (b < outlen && (nb = next_line(out, outlen, b, &blen), may_change(out + b, blen, e, n, b == 0)))
			b = nb;
		check((a < inlen) == (b < outlen));
		if (a >= inlen)
			return;
		check(alen == blen && memcmp(in + a, out + b, alen) == 0);
		a = na;
		b = nb;
	}
}

static struct config *load(const char *path, const char *text, size_t len, struct buf *errors)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return NULL;
	fwrite(text, 1, len, f);
	fclose(f);
	struct config *c = NULL;
	config_load(path, &c, errors);
	unlink(path);
	return c;
}

/* k's value in base, formatted; or, with text, the value text (NULL: its default) parses to. */
static char *value_of(const struct config_key *k, const void *base, const char *text, int parse)
{
	struct buf out = BUF_INIT;
	if (parse) {
		union {
			struct config_server s;
			struct config_global g;
		} scratch;
		struct buf def = BUF_INIT, why = BUF_INIT;
		memset(&scratch, 0, sizeof(scratch));
		if (text == NULL && k->def_fn != NULL)
			k->def_fn(&def);
		else
			buf_append_str(&def, text != NULL ? text : k->def);
		check(config_value_parse(k, buf_str(&def), &scratch, &why) == 0);
		config_value_format(k, &scratch, &out);
		config_value_free(k, &scratch);
		buf_free(&def);
		buf_free(&why);
	} else {
		config_value_format(k, base, &out);
	}
	buf_append(&out, "", 0);
	return out.data;
}

static void check_values(const struct config *before, const struct config *after, struct config_edit *e, size_t n)
{
	check(before->nservers == after->nservers);
	for (size_t k = 0; k < config_nkeys; k++) {
		const struct config_key *key = &config_keys[k];
		if (key->scope == CONFIG_SCOPE_GLOBAL) {
			char *x = value_of(key, &before->global, NULL, 0), *y = value_of(key, &after->global, NULL, 0);
			check(strcmp(x, y) == 0);
			free(x);
			free(y);
			continue;
		}
		for (size_t s = 0; s < before->nservers; s++) {
			const struct config_server *bs = &before->servers[s], *as = &after->servers[s];
			check(strcmp(bs->name, as->name) == 0);
			const struct config_edit *ed = NULL;
			for (size_t i = 0; i < n; i++)
				if (strcmp(bs->name, "mx") == 0 && strcmp(e[i].key, key->name) == 0)
					ed = &e[i];
			char *x = ed != NULL ? value_of(key, NULL, ed->value, 1) : value_of(key, bs, NULL, 0);
			char *y = value_of(key, as, NULL, 0);
			check(strcmp(x, y) == 0);
			free(x);
			free(y);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct buf nets = BUF_INIT;
	for (int i = 0; i < FUZZ_NETS; i++)
		buf_printf(&nets, "%s10.%d.0.0/16", i > 0 ? ", " : "", i);
	const struct config_edit all[] = {
		{ .key = "max_recipients", .value = "77" },
		{ .key = "max_message_size", .value = NULL },
		{ .key = "relay_networks", .value = buf_str(&nets) },
		{ .key = "hostname", .value = "fuzz.example" },
	};
	struct config_edit e[4];
	size_t n = 0;
	for (size_t i = 0; i < 4; i++)
		if (data[0] & (1u << i))
			e[n++] = all[i];
	const char *text = (const char *)data + 1;
	size_t len = size - 1;

	struct buf out = BUF_INIT, why = BUF_INIT, errors = BUF_INIT;
	int rc = config_edit_apply("fuzz.conf", text, len, "server mx", e, n, &out, &why);
	check(rc == 0 ? why.len == 0 : why.len > 0 && out.len == 0);
	if (rc == 0)
		check_kept(text, len, buf_str(&out), out.len, e, n);

	char path[64];
	snprintf(path, sizeof(path), "/tmp/vsmtpd-fuzz-config-edit-%ld.conf", (long)getpid());
	struct config *before = (data[0] & FUZZ_LOAD) == FUZZ_LOAD ? load(path, text, len, &errors) : NULL;
	if (before != NULL && config_server_find(before, "mx") != NULL) {
		check(rc == 0);
		buf_reset(&errors);
		struct config *after = load(path, buf_str(&out), out.len, &errors);
		if (after == NULL)
			check(strstr(buf_str(&errors), "line too long") != NULL);
		else
			check_values(before, after, e, n);
		config_unref(after);
	}
	config_unref(before);
	buf_free(&out);
	buf_free(&why);
	buf_free(&errors);
	buf_free(&nets);
	return 0;
}
