/*
 * message.c — PURE header-section questions (see message.h).
 *
 * Owns nothing. Walks lines of a content prefix: a line ends at LF (a CR
 * before it is part of the ending); the header section ends at the first
 * empty line. A line cut off by the end of the prefix still counts when
 * its field name and colon are inside it.
 */
#include "message.h"

#include <string.h>
#include <strings.h>

unsigned message_count_field(const char *data, size_t len, const char *name)
{
	size_t nlen = strlen(name);
	unsigned count = 0;
	size_t i = 0;
	while (i < len) {
		const char *line = data + i;
		const char *lf = memchr(line, '\n', len - i);
		size_t llen = lf != NULL ? (size_t)(lf - line) : len - i;
		size_t text = llen > 0 && line[llen - 1] == '\r' ? llen - 1 : llen;
		if (text == 0)
			break;	/* the empty line: the body starts */
		if (text > nlen && strncasecmp(line, name, nlen) == 0) {
			size_t j = nlen;
			while (j < text && (line[j] == ' ' || line[j] == '\t'))
				j++;
			if (j < text && line[j] == ':')
				count++;
		}
		i += llen + 1;
	}
	return count;
}

size_t message_header_len(const char *data, size_t len)
{
	size_t line = 0;	/* where the current line starts */
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		size_t n = i - line;	/* the line's length before its LF */
		if (n == 0 || (n == 1 && data[line] == '\r'))
			return i + 1;
		line = i + 1;
	}
	return 0;
}
