/*
 * control_queue.c — control commands about queued mail: queue.list, .show,
 * .flush, .hold, .release, .delete, .bounce, .summary (docs/CONTROL.md).
 *
 * Main thread. The queue index (queue.h) says which messages are queued
 * and carries out the actions; what is shown of a message is read from its
 * file (spool.h: queue/, or hold/ for a held one) on this thread, so a
 * listing of a huge queue holds up the main loop for as long as reading
 * it takes. Deliveries run meanwhile: a file that vanishes or turns out
 * corrupt between the index and the read is left out of a listing, not an
 * error. Text from queue files is made valid UTF-8 (bad bytes become
 * U+FFFD) because JSON strings must be.
 * Not here: what holding, flushing or bouncing does (queue.c), the files
 * (spool_read.c), the framing and dispatch (control.c).
 * Errors: -1 with one sentence in err, as control_int.h says.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "control_int.h"
#include "lib/xalloc.h"
#include "log.h"
#include "message.h"

#define CQ_HEADERS_MAX (256 * 1024)	/* queue.show: at most this much of the header section */

/* Age columns of queue.summary (qshape's idea, fewer columns). */
static const struct {
	const char *name;
	long long below;		/* seconds; the last column takes the rest */
} cq_ages[] = {
	{ "<5m", 5 * 60 },
	{ "<1h", 60 * 60 },
	{ "<1d", 24 * 60 * 60 },
	{ ">=1d", 0 },
};
#define CQ_NAGES (sizeof(cq_ages) / sizeof(cq_ages[0]))

/* ---- JSON of queue files ------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p[0..n), or 0 (RFC 3629 table 4: no overlongs, surrogates). */
static size_t cq_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;	/* bounds of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

/* A JSON string of p[0..n), each byte that is not part of valid UTF-8 made U+FFFD. */
static json_t *cq_text(const char *p, size_t n)
{
	struct buf b = BUF_INIT;
	const unsigned char *u = (const unsigned char *)p;
	for (size_t i = 0; i < n;) {
		size_t len = cq_utf8_len(u + i, n - i);
		if (len == 0) {
			buf_append(&b, "\xEF\xBF\xBD", 3);
			i++;
			continue;
		}
		buf_append(&b, p + i, len);
		i += len;
	}
	json_t *s = json_stringn(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return s;
}

static json_t *cq_str(const char *s)
{
	return cq_text(s, strlen(s));
}

/* "pending" (never tried), "deferred", "warned", "delivered" or "failed". */
static const char *cq_rcpt_state(const struct envelope_rcpt *r)
{
	switch (r->state) {
	case RCPT_PENDING:
		return r->tries > 0 ? "deferred" : "pending";
	case RCPT_WARNED:
		return "warned";
	case RCPT_DELIVERED:
		return "delivered";
	case RCPT_FAILED:
		return "failed";
	}
	return "unknown";	/* cannot be: decoding refuses other letters */
}

/* A message as queue.list shows it. */
static json_t *cq_envelope(const char *id, const struct spool_file *f, bool held)
{
	const struct envelope *env = &f->env;
	json_t *rcpts = json_array();
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];
		json_t *o = json_object();
		json_object_set_new(o, "address", cq_str(r->addr));
		json_object_set_new(o, "state", json_string(cq_rcpt_state(r)));
		json_object_set_new(o, "tries", json_integer((json_int_t)r->tries));
		json_object_set_new(o, "next_try", json_integer((json_int_t)r->next_try));
		json_array_append_new(rcpts, o);
	}
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "arrival", json_integer((json_int_t)env->arrival));
	json_object_set_new(o, "size", json_integer((json_int_t)f->content_len));
	json_object_set_new(o, "sender", cq_str(env->sender));
	json_object_set_new(o, "server", cq_str(env->server));
	json_object_set_new(o, "held", json_boolean(held));
	json_object_set_new(o, "recipients", rcpts);
	return o;
}

/* The header section of f's content (at most CQ_HEADERS_MAX bytes of it). */
static json_t *cq_headers(const struct spool_file *f)
{
	size_t want = f->content_len < CQ_HEADERS_MAX ? (size_t)f->content_len : CQ_HEADERS_MAX;
	char *p = xmalloc(want > 0 ? want : 1);
	size_t got = 0;
	while (got < want) {
		ssize_t r = pread(f->fd, p + got, want - got, f->content_off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	/* no empty line within: all of it is header (or the first 256 KiB of it) */
	size_t hl = message_header_len(p, got);
	json_t *s = cq_text(p, hl > 0 ? hl : got);
	free(p);
	return s;
}

/* ---- which messages -------------------------------------------------------- */

struct cq_item {
	char id[SPOOL_ID_MAX + 1];
	bool held;
};

struct cq_items {
	struct cq_item *v;
	size_t n, cap;
};

static void cq_items_add(struct cq_items *it, const char *id, bool held)
{
	if (it->n == it->cap) {
		it->cap = it->cap > 0 ? 2 * it->cap : 64;
		it->v = xrealloc(it->v, it->cap * sizeof(*it->v));
	}
	struct cq_item *x = &it->v[it->n++];
	snprintf(x->id, sizeof(x->id), "%s", id);
	x->held = held;
}

static void cq_on_held(void *arg, const char *id)
{
	cq_items_add(arg, id, true);
}

static int cq_item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cq_item *)a)->id, ((const struct cq_item *)b)->id);
}

/* Every queued message, and the held ones too when with_held; oldest first. */
static void cq_collect(struct daemon *d, bool with_held, struct cq_items *it)
{
	struct queue_entry *e;
	size_t n = queue_list(d->queue, &e);
	for (size_t i = 0; i < n; i++)
		cq_items_add(it, e[i].id, false);
	free(e);
	if (with_held && spool_scan_held(d->spool, cq_on_held, it) < 0)
		log_warn("event=control_error op=scan dir=hold error=\"%s\"", strerror(errno));
	if (it->n > 1)
		qsort(it->v, it->n, sizeof(*it->v), cq_item_cmp);
}

/* Opens id's file: queue/ first, then hold/ (*held says which). -1 with errno. */
static int cq_open(struct daemon *d, const char *id, struct spool_file *f, bool *held)
{
	*held = false;
	if (spool_file_open(d->spool, id, f) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	*held = true;
	return spool_file_open_held(d->spool, id, f);
}

/* ---- filters ----------------------------------------------------------------- */

struct cq_filter {
	const char *domain;	/* a pending recipient in it */
	const char *sender;	/* "" or "<>" for the null sender; angle brackets optional */
	const char *state;	/* "pending", "deferred", "held" */
	const char *server;	/* the virtual server that accepted it */
};

static bool cq_sender_is(const char *sender, const char *want)
{
	size_t n = strlen(want);
	if (n >= 2 && want[0] == '<' && want[n - 1] == '>') {
		want++;
		n -= 2;
	}
	return strlen(sender) == n && strncasecmp(sender, want, n) == 0;
}

/* Whether a pending recipient was tried (deferred) or not (pending), as state asks. */
static bool cq_state_is(const struct envelope *env, bool held, const char *state)
{
	if (strcmp(state, "held") == 0)
		return held;
	if (held)
		return false;
	bool tried = strcmp(state, "deferred") == 0;
	for (size_t i = 0; i < env->nrcpts; i++)
		if (rcpt_state_pending(env->rcpts[i].state) && (env->rcpts[i].tries > 0) == tried)
			return true;
	return false;
}

static bool cq_match(const struct cq_filter *fl, const struct envelope *env, bool held)
{
	if (fl->domain != NULL && !queue_env_has_domain(env, fl->domain))
		return false;
	if (fl->sender != NULL && !cq_sender_is(env->sender, fl->sender))
		return false;
	if (fl->server != NULL && strcmp(env->server, fl->server) != 0)
		return false;
	return fl->state == NULL || cq_state_is(env, held, fl->state);
}

/* ---- error sentences ----------------------------------------------------------- */

/* Whether id's file is in hold/ (held) or queue/ (!held) and readable. */
static bool cq_exists(struct daemon *d, const char *id, bool held)
{
	struct spool_file f;
	int rc = held ? spool_file_open_held(d->spool, id, &f) : spool_file_open(d->spool, id, &f);
	spool_file_close(&f);
	return rc == 0;
}

/*
 * The sentence for a failed action on message id, errno e. ENOENT means
 * "not where the action wanted it": held_hint, when that is because the
 * message is held, queued_hint when it is queued, else there is no such
 * message.
 */
static void cq_action_error(struct daemon *d, const char *verb, const char *id, int e, const char *held_hint,
			    const char *queued_hint, struct buf *err)
{
	if (e == EBUSY)
		buf_printf(err, "message %s is being delivered right now; try again in a moment", id);
	else if (e == ENOENT && held_hint != NULL && cq_exists(d, id, true))
		buf_printf(err, "message %s %s", id, held_hint);
	else if (e == ENOENT && queued_hint != NULL && cq_exists(d, id, false))
		buf_printf(err, "message %s %s", id, queued_hint);
	else if (e == ENOENT)
		buf_printf(err, "no message with ID '%s' in the queue", id);
	else
		buf_printf(err, "cannot %s message %s: %s", verb, id, strerror(e));
}

/* The required "id" argument, or NULL with err set. */
static const char *cq_id(json_t *req, struct buf *err)
{
	int bad = 0;
	return control_arg(req, "id", true, err, &bad);
}

/* ---- the commands ------------------------------------------------------------------ */

int control_queue_list(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	int bad = 0;
	struct cq_filter fl = {
		.domain = control_arg(req, "domain", false, err, &bad),
		.sender = control_arg(req, "sender", false, err, &bad),
		.state = control_arg(req, "state", false, err, &bad),
		.server = control_arg(req, "server", false, err, &bad),
	};
	if (bad < 0)
		return -1;
	if (fl.state != NULL && strcmp(fl.state, "pending") != 0 && strcmp(fl.state, "deferred") != 0 &&
	    strcmp(fl.state, "held") != 0) {
		buf_printf(err, "argument 'state' must be pending, deferred or held, not '%s'", fl.state);
		return -1;
	}
	struct cq_items it = { NULL, 0, 0 };
	cq_collect(d, true, &it);
	json_t *list = json_array();
	for (size_t i = 0; i < it.n; i++) {
		struct spool_file f;
		int rc = it.v[i].held ? spool_file_open_held(d->spool, it.v[i].id, &f)
				      : spool_file_open(d->spool, it.v[i].id, &f);
		if (rc < 0)
			continue;	/* delivered or moved meanwhile, or corrupt (logged) */
		if (cq_match(&fl, &f.env, it.v[i].held))
			json_array_append_new(list, cq_envelope(it.v[i].id, &f, it.v[i].held));
		spool_file_close(&f);
	}
	free(it.v);
	*result = list;
	return 0;
}

int control_queue_show(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	const char *id = cq_id(req, err);
	if (id == NULL)
		return -1;
	struct spool_file f;
	bool held;
	if (cq_open(d, id, &f, &held) < 0) {
		if (errno == ENOENT)
			buf_printf(err, "no message with ID '%s' in the queue", id);
		else if (errno == EINVAL)
			buf_printf(err, "message %s is corrupt (the log says why)", id);
		else
			buf_printf(err, "cannot read message %s: %s", id, strerror(errno));
		return -1;
	}
	json_t *o = cq_envelope(id, &f, held);
	json_object_set_new(o, "headers", cq_headers(&f));
	spool_file_close(&f);
	*result = o;
	return 0;
}

int control_queue_flush(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	int bad = 0;
	const char *id = control_arg(req, "id", false, err, &bad);
	const char *domain = control_arg(req, "domain", false, err, &bad);
	if (bad < 0)
		return -1;
	if (id != NULL && domain != NULL) {
		buf_append_str(err, "give 'id' or 'domain', not both");
		return -1;
	}
	int n = queue_flush(d->queue, id, domain);
	if (n < 0) {
		cq_action_error(d, "flush", id, errno, "is held: release it first", NULL, err);
		return -1;
	}
	*result = json_pack("{s:i}", "flushed", n);
	return 0;
}

/* The result of an action on one message: {"id", "state"}. */
static int cq_done(const char *id, const char *state, json_t **result)
{
	*result = json_pack("{s:s, s:s}", "id", id, "state", state);
	return 0;
}

int control_queue_hold(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	const char *id = cq_id(req, err);
	if (id == NULL)
		return -1;
	if (queue_hold(d->queue, id) < 0) {
		cq_action_error(d, "hold", id, errno, "is held already", NULL, err);
		return -1;
	}
	return cq_done(id, "held", result);
}

int control_queue_release(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	const char *id = cq_id(req, err);
	if (id == NULL)
		return -1;
	if (queue_release(d->queue, id) < 0) {
		cq_action_error(d, "release", id, errno, NULL, "is not held", err);
		return -1;
	}
	return cq_done(id, "queued", result);
}

int control_queue_delete(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	const char *id = cq_id(req, err);
	if (id == NULL)
		return -1;
	if (queue_delete(d->queue, id) < 0) {
		cq_action_error(d, "delete", id, errno, NULL, NULL, err);
		return -1;
	}
	return cq_done(id, "deleted", result);
}

int control_queue_bounce(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	const char *id = cq_id(req, err);
	if (id == NULL)
		return -1;
	if (queue_bounce(d->queue, id) < 0) {
		cq_action_error(d, "bounce", id, errno, NULL, NULL, err);
		return -1;
	}
	return cq_done(id, "bouncing", result);
}

/* ---- queue.summary ------------------------------------------------------------------ */

/* One pending recipient: its domain (lower case) and age column. */
struct cq_rcpt {
	char *domain;
	size_t age;
};

static int cq_rcpt_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cq_rcpt *)a)->domain, ((const struct cq_rcpt *)b)->domain);
}

static size_t cq_age_column(long long age)
{
	size_t i = 0;
	while (i + 1 < CQ_NAGES && age >= cq_ages[i].below)
		i++;
	return i;
}

/* Appends the pending recipients of env to *v. */
static void cq_rcpts_add(const struct envelope *env, long long now, struct cq_rcpt **v, size_t *n,
			 size_t *cap)
{
	size_t age = cq_age_column(now - env->arrival);
	for (size_t i = 0; i < env->nrcpts; i++) {
		if (!rcpt_state_pending(env->rcpts[i].state))
			continue;
		if (*n == *cap) {
			*cap = *cap > 0 ? 2 * *cap : 64;
			*v = xrealloc(*v, *cap * sizeof(**v));
		}
		const char *at = strrchr(env->rcpts[i].addr, '@');
		char *dom = xstrdup(at != NULL ? at + 1 : "");
		for (char *p = dom; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		(*v)[(*n)++] = (struct cq_rcpt){ dom, age };
	}
}

static int cq_row_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t nx = json_integer_value(json_object_get(x, "recipients"));
	json_int_t ny = json_integer_value(json_object_get(y, "recipients"));
	if (nx != ny)
		return nx > ny ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "domain")),
		      json_string_value(json_object_get(y, "domain")));
}

/* One summary row per domain from v[0..n) sorted by domain; rows most recipients first. */
static json_t *cq_summary_rows(const struct cq_rcpt *v, size_t n)
{
	json_t **rows = xcalloc(n > 0 ? n : 1, sizeof(*rows));
	size_t nrows = 0;
	for (size_t i = 0; i < n;) {
		json_int_t counts[CQ_NAGES] = { 0 };
		size_t j = i;
		for (; j < n && strcmp(v[j].domain, v[i].domain) == 0; j++)
			counts[v[j].age]++;
		json_t *age = json_object();
		for (size_t k = 0; k < CQ_NAGES; k++)
			json_object_set_new(age, cq_ages[k].name, json_integer(counts[k]));
		json_t *row = json_object();
		json_object_set_new(row, "domain", cq_str(v[i].domain));
		json_object_set_new(row, "recipients", json_integer((json_int_t)(j - i)));
		json_object_set_new(row, "age", age);
		rows[nrows++] = row;
		i = j;
	}
	if (nrows > 1)
		qsort(rows, nrows, sizeof(*rows), cq_row_cmp);
	json_t *list = json_array();
	for (size_t i = 0; i < nrows; i++)
		json_array_append_new(list, rows[i]);
	free(rows);
	return list;
}

int control_queue_summary(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	/* What waits for delivery: held messages are not counted. */
	struct cq_items it = { NULL, 0, 0 };
	cq_collect(d, false, &it);
	long long now = (long long)time(NULL);
	struct cq_rcpt *v = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < it.n; i++) {
		struct spool_file f;
		if (spool_file_open(d->spool, it.v[i].id, &f) < 0)
			continue;
		cq_rcpts_add(&f.env, now, &v, &n, &cap);
		spool_file_close(&f);
	}
	free(it.v);
	if (n > 0)
		qsort(v, n, sizeof(*v), cq_rcpt_cmp);
	*result = cq_summary_rows(v, n);
	for (size_t i = 0; i < n; i++)
		free(v[i].domain);
	free(v);
	return 0;
}
