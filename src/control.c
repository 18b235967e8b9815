/*
 * control.c — the control socket: connections, JSON-line framing, dispatch
 * (see control.h; the commands are docs/CONTROL.md).
 *
 * Owns the listening unix socket and one bufferevent per client, all on
 * the main thread, so commands run one at a time and may touch the daemon
 * freely. A request line is parsed with jansson, its "cmd" looked up in
 * the table below, and exactly one reply line written, echoing "tag".
 * `monitor` turns a connection into a one-way stream of log lines: a tap
 * in log.c copies each line (any thread) into a bounded list that the
 * main thread hands out; a monitor that cannot keep up loses lines rather
 * than slowing the daemon.
 * Errors: a malformed line, an unknown command or a bad argument is an
 * error reply, never a dropped connection; a line over CONTROL_LINE_MAX is
 * answered with an error and the connection closed (it cannot be framed).
 */
#include "control.h"
#include "control_int.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "lib/xalloc.h"
#include "log.h"

/* A request line: large enough for `submit` of a 32 MiB message in base64. */
#define CONTROL_LINE_MAX (48u << 20)

#define MONITOR_PENDING_MAX 10000		/* log lines waiting for the main thread */
#define MONITOR_OUTPUT_MAX (4u << 20)		/* a monitor that reads slower than this loses lines */

struct control_conn {
	struct control *c;
	struct bufferevent *bev;
	long long peer_uid;	/* the client process's uid (SO_PEERCRED); -1 when unknown */
	struct control_conn *prev, *next;
	size_t scanned;		/* input bytes known to hold no LF: a long line is searched once */
	bool closing;		/* close once the reply is written */
	bool monitor;		/* gets every log line; sends no more requests */
	unsigned long long dropped;	/* lines this monitor lost for reading too slowly */
};

/* A log line on its way from a logging thread to the monitors. */
struct monitor_line {
	struct monitor_line *next;
	char level[8];
	size_t len;
	char text[];
};

/* Lines handed over by log_tap(): any thread adds, the main thread takes. Static, so that a
 * logging thread still inside the tap when the control closes finds it alive. */
static struct {
	pthread_mutex_t lock;
	struct event *wake;		/* NULL: nobody listens */
	struct monitor_line *head, *tail;
	size_t n;
	unsigned long long dropped;
} monitor_feed = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct control {
	struct daemon *d;
	struct evconnlistener *listener;
	char *path;
	struct control_conn *conns;
	unsigned nmonitors;
};

static int control_monitor(struct daemon *d, json_t *req, json_t **result, struct buf *err);

static const struct {
	const char *name;
	control_cmd_fn fn;
} control_cmds[] = {
	{ "status", control_status },
	{ "server.list", control_server_list },
	{ "server.show", control_server_show },
	{ "server.stop", control_server_stop },
	{ "server.start", control_server_start },
	{ "server.pause", control_server_pause },
	{ "server.resume", control_server_resume },
	{ "reload", control_reload },
	{ "stats", control_stats },
	{ "stats.history", control_stats_history },
	{ "config.keys", control_config_keys },
	{ "config.set", control_config_set },
	{ "queue.list", control_queue_list },
	{ "queue.show", control_queue_show },
	{ "queue.flush", control_queue_flush },
	{ "queue.hold", control_queue_hold },
	{ "queue.release", control_queue_release },
	{ "queue.delete", control_queue_delete },
	{ "queue.bounce", control_queue_bounce },
	{ "queue.summary", control_queue_summary },
	{ "submit", control_submit },
	{ "monitor", control_monitor },
};

/* The connection becomes a monitor (control_read() sees "monitoring"). */
static int control_monitor(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	*result = json_pack("{s:b}", "monitoring", 1);
	return 0;
}

const char *control_arg(json_t *req, const char *name, bool required, struct buf *err, int *bad)
{
	json_t *v = json_object_get(req, name);
	if (v == NULL || json_is_null(v)) {
		if (required) {
			buf_printf(err, "missing argument '%s'", name);
			*bad = -1;
		}
		return NULL;
	}
	if (!json_is_string(v)) {
		buf_printf(err, "argument '%s' must be a string", name);
		*bad = -1;
		return NULL;
	}
	return json_string_value(v);
}

static void monitor_tap(void *arg, const char *level, const char *line, size_t len)
{
	pthread_mutex_lock(&monitor_feed.lock);
	if (monitor_feed.wake != NULL && monitor_feed.n >= MONITOR_PENDING_MAX) {
		monitor_feed.dropped++;
	} else if (monitor_feed.wake != NULL) {
		struct monitor_line *m = xmalloc(sizeof(*m) + len);
		m->next = NULL;
		snprintf(m->level, sizeof(m->level), "%s", level);
		m->len = len;
		memcpy(m->text, line, len);
		if (monitor_feed.tail != NULL)
			monitor_feed.tail->next = m;
		else
			monitor_feed.head = m;
		monitor_feed.tail = m;
		if (monitor_feed.n++ == 0)
			event_active(monitor_feed.wake, 0, 0);
	}
	pthread_mutex_unlock(&monitor_feed.lock);
}

/* Main thread: hands the waiting lines to every monitor. */
static void monitor_wake(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;
	pthread_mutex_lock(&monitor_feed.lock);
	struct monitor_line *m = monitor_feed.head;
	unsigned long long dropped = monitor_feed.dropped;
	monitor_feed.head = monitor_feed.tail = NULL;
	monitor_feed.n = 0;
	monitor_feed.dropped = 0;
	pthread_mutex_unlock(&monitor_feed.lock);
	while (m != NULL) {
		json_t *o = json_pack("{s:s, s:s%}", "level", m->level, "line", m->text, m->len);
		char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(o);
		for (struct control_conn *cc = c->conns; cc != NULL; cc = cc->next) {
			if (!cc->monitor)
				continue;
			struct evbuffer *out = bufferevent_get_output(cc->bev);
			if (evbuffer_get_length(out) > MONITOR_OUTPUT_MAX) {
				cc->dropped++;
				continue;
			}
			evbuffer_add_printf(out, "%s\n", text);
		}
		free(text);
		struct monitor_line *next = m->next;
		free(m);
		m = next;
	}
	if (dropped > 0)
		log_warn("event=monitor_dropped lines=%llu reason=\"log lines came faster than the "
			 "monitors read them\"", dropped);
}

/* Starts or stops feeding log lines as the first monitor comes or the last goes. */
static void monitor_count(struct control *c, int delta)
{
	c->nmonitors = (unsigned)((int)c->nmonitors + delta);
	bool want = c->nmonitors > 0;
	pthread_mutex_lock(&monitor_feed.lock);
	bool have = monitor_feed.wake != NULL;
	if (want && !have)
		monitor_feed.wake = event_new(c->d->base, -1, 0, monitor_wake, c);
	struct event *old = !want && have ? monitor_feed.wake : NULL;
	if (old != NULL) {
		monitor_feed.wake = NULL;
		for (struct monitor_line *m = monitor_feed.head, *next; m != NULL; m = next) {
			next = m->next;
			free(m);
		}
		monitor_feed.head = monitor_feed.tail = NULL;
		monitor_feed.n = 0;
	}
	pthread_mutex_unlock(&monitor_feed.lock);
	if (want && !have)
		log_set_tap(monitor_tap, NULL);
	if (old != NULL) {
		log_set_tap(NULL, NULL);
		event_free(old);
	}
}

static void conn_free(struct control_conn *cc)
{
	struct control *c = cc->c;
	if (cc->monitor)
		monitor_count(c, -1);
	if (cc->prev != NULL)
		cc->prev->next = cc->next;
	else
		c->conns = cc->next;
	if (cc->next != NULL)
		cc->next->prev = cc->prev;
	bufferevent_free(cc->bev);
	free(cc);
}

/* Runs one request line from a client with uid peer_uid; returns the reply object. */
json_t *control_execute(struct daemon *d, json_t *req)
{
	struct buf err = BUF_INIT;
	json_t *result = NULL;
	json_t *tag = json_object_get(req, "tag");
	json_t *cmd = json_object_get(req, "cmd");
	const char *name = json_is_string(cmd) ? json_string_value(cmd) : NULL;
	size_t i = 0;
	int rc = -1;
	while (name != NULL && i < sizeof(control_cmds) / sizeof(control_cmds[0]) &&
	       strcmp(control_cmds[i].name, name) != 0)
		i++;
	if (name == NULL)
		buf_append_str(&err, "missing \"cmd\" (a string: see docs/CONTROL.md)");
	else if (i == sizeof(control_cmds) / sizeof(control_cmds[0]))
		buf_printf(&err, "unknown command '%s'", name);
	else
		rc = control_cmds[i].fn(d, req, &result, &err);
	json_t *reply = json_object();
	json_object_set_new(reply, "ok", json_boolean(rc == 0));
	if (tag != NULL)
		json_object_set(reply, "tag", tag);
	if (rc == 0)
		json_object_set_new(reply, "result", result != NULL ? result : json_null());
	else
		json_object_set_new(reply, "error", json_string(buf_str(&err)));
	buf_free(&err);
	return reply;
}

/* One request line from the socket: parsed, tagged with the peer's uid, executed. */
static json_t *control_run(struct control *c, long long peer_uid, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL || !json_is_object(req)) {
		json_t *reply = json_pack("{s:b, s:s+}", "ok", 0, "error", "not a JSON object: ",
					  req == NULL ? jerr.text : "another JSON value");
		json_decref(req);
		return reply;
	}
	/* Who asks, as the kernel says (a client cannot claim it): for the Received: line of
	 * `submit`. */
	json_object_set_new(req, CONTROL_PEER_UID, json_integer(peer_uid));
	json_t *reply = control_execute(c->d, req);
	json_decref(req);
	return reply;
}

static void control_reply(struct control_conn *cc, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(reply);
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	evbuffer_add(out, text, strlen(text));
	evbuffer_add(out, "\n", 1);
	free(text);
}

static void control_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (cc->monitor) {
		/* a monitor says nothing more: what it sends is ignored */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (!cc->closing) {
		struct evbuffer_ptr from;
		evbuffer_ptr_set(in, &from, cc->scanned, EVBUFFER_PTR_SET);
		struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, &from);
		if (lf.pos < 0) {
			cc->scanned = evbuffer_get_length(in);
			if (cc->scanned > CONTROL_LINE_MAX) {
				json_t *r = json_object();
				json_object_set_new(r, "ok", json_false());
				json_object_set_new(r, "error", json_string("request line too long"));
				control_reply(cc, r);
				cc->closing = true;
				bufferevent_disable(bev, EV_READ);
			}
			return;
		}
		size_t len = (size_t)lf.pos;
		char *line = xmalloc(len + 1);
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, 1);
		line[len] = '\0';
		cc->scanned = 0;
		json_t *reply = control_run(cc->c, cc->peer_uid, line, len);
		free(line);
		if (json_is_true(json_object_get(json_object_get(reply, "result"), "monitoring"))) {
			/* from now on this connection only receives log lines */
			cc->monitor = true;
			monitor_count(cc->c, +1);
			control_reply(cc, reply);
			return;
		}
		control_reply(cc, reply);
	}
}

static void control_written(struct bufferevent *bev, void *arg)
{
	struct control_conn *cc = arg;
	if (cc->closing)
		conn_free(cc);
}

static void control_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void control_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
			   void *arg)
{
	struct control *c = arg;
	struct control_conn *cc = xcalloc(1, sizeof(*cc));
	cc->c = c;
	cc->bev = bufferevent_socket_new(c->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cc->bev == NULL) {
		close(fd);
		free(cc);
		return;
	}
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	cc->peer_uid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0 ? (long long)cred.uid : -1;
	cc->next = c->conns;
	if (c->conns != NULL)
		c->conns->prev = cc;
	c->conns = cc;
	bufferevent_setcb(cc->bev, control_read, control_written, control_event, cc);
	bufferevent_enable(cc->bev, EV_READ | EV_WRITE);
}

/* mkdir of path's parent when missing (one level, mode 0755). */
static void control_mkdir_parent(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			log_warn("event=control_error op=mkdir path=%s error=\"%s\"", dir, strerror(errno));
	}
	free(dir);
}

struct control *control_open(struct daemon *d, char *err, size_t errsize)
{
	const char *path = d->cfg->global.control;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(un.sun_path)) {
		snprintf(err, errsize, "control socket path too long: %s", path);
		return NULL;
	}
	memcpy(un.sun_path, path, strlen(path) + 1);
	control_mkdir_parent(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsize, "control socket: %s", strerror(errno));
		return NULL;
	}
	/* A socket file left by a daemon that died is in the way; one that
	 * answers belongs to another running daemon and is not taken. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && connect(probe, (struct sockaddr *)&un, sizeof(un)) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			snprintf(err, errsize, "control socket %s is in use by another vsmtpd", path);
			close(fd);
			return NULL;
		}
		unlink(path);
	}
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&un, sizeof(un));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		snprintf(err, errsize, "control socket %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	const char *group = d->cfg->global.control_group;
	if (group != NULL) {
		struct group *g = getgrnam(group);
		if (g == NULL || chown(path, (uid_t)-1, g->gr_gid) < 0) {
			snprintf(err, errsize, "control socket %s: cannot give it to group %s: %s", path, group,
				 g == NULL ? "no such group" : strerror(errno));
			close(fd);
			unlink(path);
			return NULL;
		}
	}
	chmod(path, 0660);
	struct control *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->path = xstrdup(path);
	c->listener = evconnlistener_new(d->base, control_accept, c, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (c->listener == NULL) {
		snprintf(err, errsize, "control socket %s: cannot listen", path);
		close(fd);
		unlink(path);
		free(c->path);
		free(c);
		return NULL;
	}
	log_info("event=control_listen path=%s", path);
	return c;
}

void control_close(struct control *c)
{
	if (c == NULL)
		return;
	for (struct control_conn *cc = c->conns, *next; cc != NULL; cc = next) {
		next = cc->next;
		conn_free(cc);
	}
	evconnlistener_free(c->listener);
	unlink(c->path);
	free(c->path);
	free(c);
}
