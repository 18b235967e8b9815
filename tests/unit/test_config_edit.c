/*
 * test_config_edit.c — config_edit_apply(): settings changed in a config's text.
 *
 * Each case gives a whole file and compares the whole result byte for
 * byte, so that "everything else is kept" is checked on every case, not
 * only the edited line. Where the loader's reading matters (long values
 * over continuation lines, '#' in a value, comments), the result is also
 * loaded with config_load() from a temporary file and the value read back.
 * Runs with the working directory tests/unit/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_edit.h"
#include "config_keys.h"

/* ---- helpers ------------------------------------------------------------ */

/* One edit; asserts success and returns the new text (caller frees). */
static char *edit1(const char *text, const char *section, const char *key, const char *value, bool *changed)
{
	struct config_edit e = { .key = key, .value = value };
	struct buf out = BUF_INIT, why = BUF_INIT;
	int rc = config_edit_apply("t.conf", text, strlen(text), section, &e, 1, &out, &why);
	if (rc != 0)
		fail_msg("config_edit_apply: %s", buf_str(&why));
	buf_free(&why);
	if (changed != NULL)
		*changed = e.changed;
	buf_append(&out, "", 0);
	return out.data;
}

static void expect(const char *text, const char *section, const char *key, const char *value, const char *want)
{
	char *got = edit1(text, section, key, value, NULL);
	assert_string_equal(got, want);
	free(got);
}

/* The edit fails; its sentence is returned (caller frees). */
static char *edit_error(const char *text, const char *section, const char *key, const char *value)
{
	struct config_edit e = { .key = key, .value = value };
	struct buf out = BUF_INIT, why = BUF_INIT;
	assert_int_equal(config_edit_apply("t.conf", text, strlen(text), section, &e, 1, &out, &why), -1);
	assert_int_equal(out.len, 0);
	assert_true(why.len > 0);
	buf_free(&out);
	return why.data;
}

/* Loads text from a temporary file; NULL (with the errors printed) when it is refused. */
static struct config *load_text(const char *text)
{
	char path[] = "/tmp/test_config_edit.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct config *c = NULL;
	struct buf errors = BUF_INIT;
	if (config_load(path, &c, &errors) < 0)
		print_message("%s", buf_str(&errors));
	unlink(path);
	buf_free(&errors);
	return c;
}

/* A server key of the named server, as server.show writes it. Caller frees. */
static char *setting(const struct config *c, const char *server, const char *key)
{
	const struct config_server *srv = config_server_find(c, server);
	assert_non_null(srv);
	struct buf v = BUF_INIT;
	config_value_format(config_key_find(key), srv, &v);
	buf_append(&v, "", 0);
	return v.data;
}

/* The longest line of text, line ends excluded. */
static size_t longest_line(const char *text)
{
	size_t max = 0;
	for (const char *p = text; *p != '\0';) {
		size_t n = strcspn(p, "\r\n");
		if (n > max)
			max = n;
		p += n;
		p += strspn(p, "\r\n");
	}
	return max;
}

/* ---- replacing ---------------------------------------------------------- */

static void test_config_edit_replace_keeps_layout_and_comment(void **state)
{
	expect("# top\n"
	       "[server mx]\n"
	       "listen = 127.0.0.1:25\n"
	       "max_message_size   =  10M   ; the limit\n"
	       "hostname=mx.test\n",
	       "server mx", "max_message_size", "20M",
	       "# top\n"
	       "[server mx]\n"
	       "listen = 127.0.0.1:25\n"
	       "max_message_size   =  20M   ; the limit\n"
	       "hostname=mx.test\n");
	expect("[server mx]\nhostname=mx.test\n", "server mx", "hostname", "other.test",
	       "[server mx]\nhostname=other.test\n");
	/* ':' is a delimiter too, and the loader accepts an indented first setting */
	expect("[server mx]\n  hostname: mx.test ;c\n", "server mx", "hostname", "b.test",
	       "[server mx]\n  hostname: b.test ;c\n");
}

static void test_config_edit_replace_drops_continuation_lines(void **state)
{
	expect("[server mx]\n"
	       "local_domains = a.test\n"
	       "  b.test\n"
	       "; between continuation lines\n"
	       "\tc.test ; trailing\n"
	       "hostname = mx.test\n"
	       "  \n",
	       "server mx", "local_domains", "d.test",
	       "[server mx]\n"
	       "local_domains = d.test\n"
	       "; between continuation lines\n"
	       "hostname = mx.test\n"
	       "  \n");
}

static void test_config_edit_empty_old_value(void **state)
{
	expect("[server mx]\ndeny =\n", "server mx", "deny", "10.0.0.0/8", "[server mx]\ndeny = 10.0.0.0/8\n");
	expect("[server mx]\ndeny=\n", "server mx", "deny", "10.0.0.0/8", "[server mx]\ndeny=10.0.0.0/8\n");
	expect("[server mx]\ndeny =    ; nobody\n", "server mx", "deny", "10.0.0.0/8",
	       "[server mx]\ndeny = 10.0.0.0/8   ; nobody\n");
	/* the comment keeps a blank before its ';' */
	expect("[server mx]\ndeny = ; nobody\n", "server mx", "deny", "10.0.0.0/8",
	       "[server mx]\ndeny = 10.0.0.0/8 ; nobody\n");
}

static void test_config_edit_empty_new_value(void **state)
{
	expect("[server mx]\ndeny = 10.0.0.0/8   ; nobody\n", "server mx", "deny", "",
	       "[server mx]\ndeny = ; nobody\n");
	expect("[server mx]\ndeny = 10.0.0.0/8\n", "server mx", "deny", "  ", "[server mx]\ndeny =\n");
	expect("[server mx]\n", "server mx", "deny", "", "[server mx]\ndeny =\n");
}

static void test_config_edit_same_value_is_no_change(void **state)
{
	bool changed = true;
	char *got = edit1("[server mx]\nhostname = a.test ; x\n", "server mx", "hostname", " a.test ", &changed);
	assert_string_equal(got, "[server mx]\nhostname = a.test ; x\n");
	assert_false(changed);
	free(got);
	got = edit1("[server mx]\nhostname = a.test\n", "server mx", "hostname", "b.test", &changed);
	assert_true(changed);
	free(got);
}

/* ---- adding ------------------------------------------------------------- */

static void test_config_edit_add_after_last_setting(void **state)
{
	expect("[server mx]\n"
	       "listen = 127.0.0.1:25\n"
	       "local_domains = a.test\n"
	       "  b.test\n"
	       "\n"
	       "# about the next server\n"
	       "[server other]\n"
	       "listen = 127.0.0.2:25\n",
	       "server mx", "hostname", "mx.test",
	       "[server mx]\n"
	       "listen = 127.0.0.1:25\n"
	       "local_domains = a.test\n"
	       "  b.test\n"
	       "hostname = mx.test\n"
	       "\n"
	       "# about the next server\n"
	       "[server other]\n"
	       "listen = 127.0.0.2:25\n");
}

static void test_config_edit_add_to_empty_section(void **state)
{
	expect("[global]\n\n[server mx]\n# nothing yet\n\n[server b]\nlisten = x\n", "global", "workers", "2",
	       "[global]\nworkers = 2\n\n[server mx]\n# nothing yet\n\n[server b]\nlisten = x\n");
	expect("[server mx]", "server mx", "listen", "127.0.0.1:25", "[server mx]\nlisten = 127.0.0.1:25");
}

static void test_config_edit_add_after_refused_setting_line(void **state)
{
	/* "  oops" is a syntax error; a setting added before it would take it as its continuation */
	expect("[server mx]\n  oops\n", "server mx", "hostname", "a.test",
	       "[server mx]\n  oops\nhostname = a.test\n");
}

static void test_config_edit_add_above_indented_header_is_refused(void **state)
{
	char *why = edit_error("[global]\n  [server mx]\nlisten = x\n", "global", "workers", "2");
	assert_string_equal(why, "t.conf:2: this section header is indented: a setting added above it would "
				 "make it a continuation line; start the header at the beginning of the line");
	free(why);
	/* removing is fine there (a section with a setting cannot be followed by an indented header) */
	expect("[global]\n  [server mx]\nlisten = x\n", "global", "workers", NULL,
	       "[global]\n  [server mx]\nlisten = x\n");
}

static void test_config_edit_several_edits_in_order(void **state)
{
	struct config_edit e[] = {
		{ .key = "hostname", .value = "mx.test" },
		{ .key = "max_recipients", .value = "50" },
		{ .key = "listen", .value = "127.0.0.1:26" },
		{ .key = "deny", .value = NULL },
		{ .key = "hostname", .value = "last.test" },
	};
	const char *text = "[server mx]\nlisten = 127.0.0.1:25\n[server b]\n";
	struct buf out = BUF_INIT, why = BUF_INIT;
	assert_int_equal(config_edit_apply("t.conf", text, strlen(text), "server mx", e, 5, &out, &why), 0);
	assert_string_equal(buf_str(&out), "[server mx]\nlisten = 127.0.0.1:26\nhostname = last.test\n"
					   "max_recipients = 50\n[server b]\n");
	assert_true(e[0].changed && e[1].changed && e[2].changed && e[4].changed);
	assert_false(e[3].changed);
	buf_free(&out);
	buf_free(&why);
}

/* ---- removing ----------------------------------------------------------- */

static void test_config_edit_remove_with_continuation(void **state)
{
	expect("[server mx]\n"
	       "listen = x\n"
	       "relay_networks = 10.0.0.0/8 ; ours\n"
	       "   192.168.0.0/16\n"
	       "# kept\n"
	       "   172.16.0.0/12\n"
	       "hostname = h\n",
	       "server mx", "relay_networks", NULL,
	       "[server mx]\n"
	       "listen = x\n"
	       "# kept\n"
	       "hostname = h\n");
	bool changed = true;
	char *got = edit1("[server mx]\nlisten = x\n", "server mx", "hostname", NULL, &changed);
	assert_string_equal(got, "[server mx]\nlisten = x\n");
	assert_false(changed);
	free(got);
	/* the last line removed: the line before keeps its newline */
	expect("[server mx]\nlisten = x\nhostname = h", "server mx", "hostname", NULL, "[server mx]\nlisten = x\n");
}

static void test_config_edit_duplicate_key(void **state)
{
	const char *text = "[server mx]\nhostname = a\n  cont\nlisten = x\nhostname = b\n";
	expect(text, "server mx", "hostname", "c", "[server mx]\nhostname = c\nlisten = x\n");
	expect(text, "server mx", "hostname", NULL, "[server mx]\nlisten = x\n");
}

/* ---- sections ----------------------------------------------------------- */

static void test_config_edit_missing_section(void **state)
{
	char *why = edit_error("[server mx]\nlisten = x\n", "server nope", "hostname", "a");
	assert_string_equal(why, "t.conf: no [server nope] section");
	free(why);
	why = edit_error("", "server mx", "hostname", "a");
	assert_string_equal(why, "t.conf: no [server mx] section");
	free(why);
	/* an unclosed header names no section */
	why = edit_error("[server mx\nlisten = x\n", "server mx", "hostname", "a");
	assert_string_equal(why, "t.conf: no [server mx] section");
	free(why);
	why = edit_error("[server mx]\n", "  ", "hostname", "a");
	assert_string_equal(why, "bad section name '  '");
	free(why);
}

static void test_config_edit_header_spacing(void **state)
{
	expect("[ server \t mx ]  ; main\nlisten = x\n", "server mx", "listen", "y",
	       "[ server \t mx ]  ; main\nlisten = y\n");
	/* a name is compared exactly: another case is another server */
	char *why = edit_error("[server MX]\nlisten = x\n", "server mx", "listen", "y");
	free(why);
	/* a " ;" comment inside the brackets ends the header there: no ']' */
	why = edit_error("[server mx ;]\nlisten = x\n", "server mx", "listen", "y");
	free(why);
}

static void test_config_edit_duplicate_section_edits_the_first(void **state)
{
	expect("[server mx]\nlisten = a\n[server mx]\nlisten = b\n", "server mx", "listen", "c",
	       "[server mx]\nlisten = c\n[server mx]\nlisten = b\n");
	expect("[server mx]\n[server mx]\nlisten = b\n", "server mx", "listen", "c",
	       "[server mx]\nlisten = c\n[server mx]\nlisten = b\n");
}

static void test_config_edit_key_in_other_sections_untouched(void **state)
{
	const char *text = "[global]\nspool = s\n[server a]\nhostname = a\n  more\n[server b]\nlisten = x\n"
			   "[server c]\nhostname = c\n";
	expect(text, "server b", "hostname", "b",
	       "[global]\nspool = s\n[server a]\nhostname = a\n  more\n[server b]\nlisten = x\nhostname = b\n"
	       "[server c]\nhostname = c\n");
	expect(text, "server b", "hostname", NULL, text);
	expect(text, "server c", "hostname", NULL,
	       "[global]\nspool = s\n[server a]\nhostname = a\n  more\n[server b]\nlisten = x\n[server c]\n");
}

static void test_config_edit_section_ends_at_unclosed_header(void **state)
{
	/* keys under "[server b" belong to no section: not to mx */
	expect("[server mx]\nlisten = x\n[server b\nhostname = b\n", "server mx", "hostname", "mx",
	       "[server mx]\nlisten = x\nhostname = mx\n[server b\nhostname = b\n");
}

static void test_config_edit_key_case_is_exact(void **state)
{
	/* the loader refuses "Hostname" (keys are lower-case); it is not hostname's line */
	expect("[server mx]\nHostname = a\n", "server mx", "hostname", "b",
	       "[server mx]\nHostname = a\nhostname = b\n");
}

/* ---- line ends and odd lines -------------------------------------------- */

static void test_config_edit_crlf(void **state)
{
	expect("[server mx]\r\nlisten = x\r\nhostname = a ; c\r\n", "server mx", "hostname", "b",
	       "[server mx]\r\nlisten = x\r\nhostname = b ; c\r\n");
	expect("[server mx]\r\nlisten = x\r\n", "server mx", "hostname", "b",
	       "[server mx]\r\nlisten = x\r\nhostname = b\r\n");
	expect("[server mx]\r\nlisten = x", "server mx", "hostname", "b",
	       "[server mx]\r\nlisten = x\r\nhostname = b");
}

static void test_config_edit_no_final_newline(void **state)
{
	expect("[server mx]\nlisten = x", "server mx", "listen", "y", "[server mx]\nlisten = y");
	expect("[server mx]\nlisten = x", "server mx", "hostname", "h", "[server mx]\nlisten = x\nhostname = h");
	/* a last line ending in a lone CR is no line break to the reader */
	expect("[server mx]\nlisten = x\r", "server mx", "hostname", "h",
	       "[server mx]\nlisten = x\r\nhostname = h");
}

static void test_config_edit_bom_and_refused_lines(void **state)
{
	char long_comment[300];
	memset(long_comment, 'x', sizeof(long_comment));
	memcpy(long_comment, "hostname = ", 11);
	long_comment[sizeof(long_comment) - 1] = '\0';
	struct buf text = BUF_INIT, want = BUF_INIT;
	buf_printf(&text, "\xEF\xBB\xBF[server mx]\nlisten = x\n%s\n", long_comment);
	/* the overlong line is refused by the loader: it sets nothing, so hostname is added */
	buf_printf(&want, "\xEF\xBB\xBF[server mx]\nlisten = y\nhostname = h\n%s\n", long_comment);
	struct config_edit e[] = { { .key = "listen", .value = "y" }, { .key = "hostname", .value = "h" } };
	struct buf out = BUF_INIT, why = BUF_INIT;
	assert_int_equal(config_edit_apply("t.conf", text.data, text.len, "server mx", e, 2, &out, &why), 0);
	assert_string_equal(buf_str(&out), buf_str(&want));
	buf_free(&out);

	/* a line with a NUL byte is kept as it is, and a refused '[' line still ends the section */
	static const char nul[] = "[server mx]\nlisten = x\n#\0\n[server\0 b]\nhostname = b\n";
	static const char nul_want[] = "[server mx]\nlisten = x\nhostname = h\n#\0\n[server\0 b]\nhostname = b\n";
	struct config_edit h = { .key = "hostname", .value = "h" };
	assert_int_equal(config_edit_apply("t.conf", nul, sizeof(nul) - 1, "server mx", &h, 1, &out, &why), 0);
	assert_int_equal(out.len, sizeof(nul_want) - 1);
	assert_memory_equal(out.data, nul_want, out.len);
	buf_free(&out);
	buf_free(&why);
	buf_free(&text);
	buf_free(&want);
}

/* ---- values ------------------------------------------------------------- */

static void test_config_edit_refused_values(void **state)
{
	static const struct {
		const char *value, *why;
	} cases[] = {
		{ "a\nb", "the value of hostname has a line break; a value is one line" },
		{ "a\rb", "the value of hostname has a line break; a value is one line" },
		{ "a ;b", "the value of hostname has a ';' after a blank, which would start a comment" },
		{ "a\t;b", "the value of hostname has a ';' after a blank, which would start a comment" },
		{ " ;b", "the value of hostname has a ';' at its start, which would start a comment" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *why = edit_error("[server mx]\nhostname = x\n", "server mx", "hostname", cases[i].value);
		assert_string_equal(why, cases[i].why);
		free(why);
	}
	char *why = edit_error("[server mx]\n", "server mx", "host name", "x");
	assert_string_equal(why, "bad key name 'host name'");
	free(why);
	why = edit_error("[server mx]\n", "server mx", "a=b", "x");
	free(why);
	/* a refused edit among others changes nothing */
	struct config_edit e[] = { { .key = "hostname", .value = "ok" }, { .key = "deny", .value = "x ;y" } };
	struct buf out = BUF_INIT, w = BUF_INIT;
	assert_int_equal(config_edit_apply("t.conf", "[server mx]\n", 12, "server mx", e, 2, &out, &w), -1);
	assert_int_equal(out.len, 0);
	buf_free(&w);
}

static void test_config_edit_blanks_trimmed_and_inner_kept(void **state)
{
	expect("[server mx]\n", "server mx", "mailbox", " \t maildir:./m/%d/%u;x  # y \t",
	       "[server mx]\nmailbox = maildir:./m/%d/%u;x  # y\n");
}

static void test_config_edit_hash_and_semicolon_read_back(void **state)
{
	char *text = edit1("[server mx]\nlisten = 127.0.0.1:2525\n", "server mx", "mailbox",
			   "maildir:./m#1;x/%d/%u", NULL);
	struct config *c = load_text(text);
	assert_non_null(c);
	char *v = setting(c, "mx", "mailbox");
	assert_string_equal(v, "maildir:./m#1;x/%d/%u");
	free(v);
	config_unref(c);
	free(text);
}

/* ---- long values -------------------------------------------------------- */

static void test_config_edit_long_value_continues(void **state)
{
	struct buf nets = BUF_INIT;
	for (int i = 0; i < 40; i++)
		buf_printf(&nets, "%s10.%d.0.0/16", i > 0 ? ", " : "", i);
	const char *base = "[server mx]\nlisten = 127.0.0.1:2525\nrelay_networks = 127.0.0.1 ; who relays\n"
			   "  ::1\nhostname = mx.test\n";
	char *text = edit1(base, "server mx", "relay_networks", buf_str(&nets), NULL);
	assert_true(longest_line(text) <= CONFIG_EDIT_LINE_MAX);
	assert_non_null(strstr(text, " ; who relays\n\t"));
	assert_non_null(strstr(text, "\nhostname = mx.test\n"));
	struct config *c = load_text(text);
	assert_non_null(c);
	char *v = setting(c, "mx", "relay_networks");
	assert_string_equal(v, buf_str(&nets));
	free(v);
	config_unref(c);
	free(text);

	/* added, and at the end of the file without a newline */
	text = edit1("[server mx]\nlisten = 127.0.0.1:2525", "server mx", "relay_networks", buf_str(&nets), NULL);
	assert_true(longest_line(text) <= CONFIG_EDIT_LINE_MAX);
	assert_int_not_equal(text[strlen(text) - 1], '\n');
	c = load_text(text);
	assert_non_null(c);
	v = setting(c, "mx", "relay_networks");
	assert_string_equal(v, buf_str(&nets));
	free(v);
	config_unref(c);
	free(text);
	buf_free(&nets);
}

static void test_config_edit_long_value_cut_points(void **state)
{
	/* never cut before what would read as a comment, a header or a key, nor in a run of blanks */
	struct buf v = BUF_INIT;
	buf_append_str(&v, "start");
	for (int i = 0; i < 50; i++)
		buf_append_str(&v, " #c [h] k=v a:b  yy xx");
	char *text = edit1("[server mx]\n", "server mx", "tls_ciphers", buf_str(&v), NULL);
	for (const char *p = strchr(text, '\t'); p != NULL; p = strchr(p + 1, '\t'))
		assert_true(strncmp(p + 1, "xx #c", 5) == 0);
	assert_non_null(strchr(text, '\t'));
	free(text);
	buf_free(&v);
	/* no cut point at all: one long line, which the loader will refuse with its line number */
	char word[260];
	memset(word, 'a', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	text = edit1("[server mx]\n", "server mx", "tls_ciphers", word, NULL);
	assert_int_equal(strlen(text), strlen("[server mx]\ntls_ciphers = \n") + strlen(word));
	free(text);
}

/* ---- the loader's limits -------------------------------------------------- */

static void test_config_edit_line_limit_is_the_loaders(void **state)
{
	assert_int_equal(CONFIG_EDIT_LINE_MAX, ini_max_line - 1);
}

static void test_config_edit_result_loads_with_same_other_values(void **state)
{
	const char *text = "; a whole config\n"
			   "[global]\n"
			   "spool = ./spool ; here\n"
			   "\n"
			   "[server mx]\n"
			   "listen = 127.0.0.1:2525\n"
			   "local_domains = a.test,\n"
			   "   b.test\n"
			   "max_message_size = 10M ; small\n"
			   "\n"
			   "[server b]\n"
			   "listen = 127.0.0.1:2526\n"
			   "max_message_size = 1M\n";
	struct config_edit e[] = {
		{ .key = "max_message_size", .value = NULL },
		{ .key = "max_recipients", .value = "7" },
		{ .key = "local_domains", .value = "c.test" },
	};
	struct buf out = BUF_INIT, why = BUF_INIT;
	assert_int_equal(config_edit_apply("t.conf", text, strlen(text), "server mx", e, 3, &out, &why), 0);
	struct config *before = load_text(text);
	struct config *after = load_text(buf_str(&out));
	assert_non_null(before);
	assert_non_null(after);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope != CONFIG_SCOPE_SERVER)
			continue;
		char *b = setting(before, "b", k->name), *a = setting(after, "b", k->name);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	char *v = setting(after, "mx", "max_message_size");
	assert_string_equal(v, "25M");	/* the default */
	free(v);
	v = setting(after, "mx", "max_recipients");
	assert_string_equal(v, "7");
	free(v);
	v = setting(after, "mx", "local_domains");
	assert_string_equal(v, "c.test");
	free(v);
	config_unref(before);
	config_unref(after);
	buf_free(&out);
	buf_free(&why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_edit_replace_keeps_layout_and_comment),
		cmocka_unit_test(test_config_edit_replace_drops_continuation_lines),
		cmocka_unit_test(test_config_edit_empty_old_value),
		cmocka_unit_test(test_config_edit_empty_new_value),
		cmocka_unit_test(test_config_edit_same_value_is_no_change),
		cmocka_unit_test(test_config_edit_add_after_last_setting),
		cmocka_unit_test(test_config_edit_add_to_empty_section),
		cmocka_unit_test(test_config_edit_add_after_refused_setting_line),
		cmocka_unit_test(test_config_edit_add_above_indented_header_is_refused),
		cmocka_unit_test(test_config_edit_several_edits_in_order),
		cmocka_unit_test(test_config_edit_remove_with_continuation),
		cmocka_unit_test(test_config_edit_duplicate_key),
		cmocka_unit_test(test_config_edit_missing_section),
		cmocka_unit_test(test_config_edit_header_spacing),
		cmocka_unit_test(test_config_edit_duplicate_section_edits_the_first),
		cmocka_unit_test(test_config_edit_key_in_other_sections_untouched),
		cmocka_unit_test(test_config_edit_section_ends_at_unclosed_header),
		cmocka_unit_test(test_config_edit_key_case_is_exact),
		cmocka_unit_test(test_config_edit_crlf),
		cmocka_unit_test(test_config_edit_no_final_newline),
		cmocka_unit_test(test_config_edit_bom_and_refused_lines),
		cmocka_unit_test(test_config_edit_refused_values),
		cmocka_unit_test(test_config_edit_blanks_trimmed_and_inner_kept),
		cmocka_unit_test(test_config_edit_hash_and_semicolon_read_back),
		cmocka_unit_test(test_config_edit_long_value_continues),
		cmocka_unit_test(test_config_edit_long_value_cut_points),
		cmocka_unit_test(test_config_edit_line_limit_is_the_loaders),
		cmocka_unit_test(test_config_edit_result_loads_with_same_other_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
