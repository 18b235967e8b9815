/*
 * config_edit.h — changing settings in the text of a config file (contract).
 *
 * Pure: text in, text out, no file and no key table. The `config.set`
 * control command (control_config.c) reads the file, edits it here, and
 * has the loader check the result before it replaces the file. Lines are
 * read exactly as config.c reads them (its reader and inih): comments,
 * continuation lines, section headers, inline " ;" comments, CRLF, a UTF-8
 * BOM, lines the loader refuses (NUL byte, over CONFIG_EDIT_LINE_MAX).
 */
#ifndef VSMTPD_CONFIG_EDIT_H
#define VSMTPD_CONFIG_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* The longest line the loader takes, line end excluded (inih's INI_MAX_LINE of 200, less its
 * NUL). A longer value is written over continuation lines. */
#define CONFIG_EDIT_LINE_MAX 199

/* One change to a section. */
struct config_edit {
	const char *key;	/* letters, digits, '_' and '-', compared exactly (keys are lower-case) */
	const char *value;	/* NULL: remove the key */
	bool changed;		/* set by config_edit_apply(): the text of the file changed */
};

/*
 * Applies edits, in order, to the section named section in text[0..len):
 * "server NAME" or "global", matched as the loader matches "[server NAME]"
 * headers (blanks around and between the words do not count). When the
 * section is there more than once, the first is edited: it is the one the
 * loader keeps (and it reports the other).
 *
 * - An existing "key = value" line (key, delimiter '=' or ':', the blanks
 *   around it, indentation and any inline " ; comment" kept) gets the new
 *   value, and the continuation lines of its old value go; later lines
 *   setting the same key in the section go too, so that the file says one
 *   thing.
 * - A key not set in the section is added as "key = value" after the
 *   section's last setting and its continuation lines (after the header
 *   when there is none); a line the loader refuses as a setting counts as
 *   one, so that no indented line can follow the new one and continue it.
 * - value NULL removes every line of the key in the section, continuation
 *   lines included.
 * - Every other byte is kept: comments (also those between continuation
 *   lines), blank lines, order, CRLF or LF, a missing final newline (except
 *   that a removed last line leaves the line before it with its newline).
 *   New lines end as the file's first line does.
 *
 * Values: leading and trailing blanks are dropped (the loader ignores
 * them). Refused, as they cannot be written on one setting line: a line
 * break (CR or LF), and a ';' first or after a blank (it would start a
 * comment). '#' is kept as is: after a value it is not a comment. A value
 * too long for one line is split at single spaces onto indented
 * continuation lines, which the loader joins with one space, so the value
 * reads back the same; never before a piece that would read as a comment,
 * a section header or a key. A value with no such split point stays on one
 * long line (the loader then says so).
 *
 * A key cannot be added to a section that has no setting and is followed
 * by an indented section header: the header would become a continuation
 * line of the new setting.
 *
 * Returns 0 with the new text appended to *out and each edit's `changed`
 * set, or -1 with one sentence appended to *why and *out untouched. A
 * sentence about the text names it as the loader does, with name (the
 * file's): "NAME: no [server mx] section", "NAME:7: ..."; one about a key
 * or value does not. Any thread.
 */
int config_edit_apply(const char *name, const char *text, size_t len, const char *section,
		      struct config_edit *edits, size_t nedits, struct buf *out, struct buf *why);

#endif
