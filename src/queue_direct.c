/*
 * queue_direct.c — delivery at commit: mail that stays on this host skips the queue.
 *
 * When the one recipient of a new message goes to a Maildir, its copy is
 * made on the spool's commit thread before anything else: fsync'd into
 * new/ (deliver_maildir.c), it IS the message's durable form. The queue file is then never synced, renamed,
 * indexed or removed, and "250" follows. That saves, per message, the queue
 * file's fsync, two fsyncs of queue/ (its arrival and its removal), a
 * create and an unlink, and the hand-off to a delivery thread.
 * The queue takes the message as usual (the function returns false) when it
 * has several recipients (a crash between two copies, before the client
 * heard 250, would deliver a message in part and the client's retry would
 * duplicate the rest: a queued message is delivered to all or, before 250,
 * to none), when the recipient is not local, when it asked for a success
 * report (NOTIFY=SUCCESS: a report is a queued message of its own, made by
 * the queue), or when the message loops (max_hop_count). A copy that fails
 * leaves its recipient pending and unrecorded: the queue tries it again at
 * once and records the failure, with its report.
 * Log lines are those of the queue: event=delivered per recipient, then
 * event=removed.
 */
#include "queue_direct.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "queue_int.h"
#include "route.h"
#include "smtp_proto.h"

bool queue_deliver_direct(void *arg, const char *id, struct spool_file *f)
{
	const struct config *cfg = arg;
	struct envelope *env = &f->env;
	if (env->nrcpts != 1 || (env->rcpts[0].notify & SMTP_NOTIFY_SUCCESS))
		return false;
	struct route rt;
	route_rcpt(cfg, env->server, env->rcpts[0].addr, &rt);
	if (rt.kind != ROUTE_LOCAL)
		return false;
	const char *domain = strrchr(env->rcpts[0].addr, '@');
	bool changed = false;
	struct queue_note note;
	struct queue_attempt a = {
		.cfg = cfg, .id = id, .f = f, .now = time(NULL),
		.policy = route_server(cfg, env->server, domain != NULL ? domain + 1 : NULL),
		.changed = &changed, .notes = &note,
	};
	char why[256];
	if (queue_loop_check(&a, why, sizeof(why)) != NULL || !queue_maildir(&a, 0, &rt, false, false))
		return false;
	log_info("event=removed id=%s", id);
	return true;
}
