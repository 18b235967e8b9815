/*
 * queue_direct.h — delivery at commit for mail that stays on this host (contract).
 *
 * A spool_direct_fn (spool.h) for spool_msg_set_direct(): arg is the
 * struct config the session accepted the message under (it must stay
 * referenced until the commit's done() runs). Returns true when the
 * message's only recipient went to its Maildir and is durable there (the
 * message needs no queue file); false to queue it, untouched. Runs on a
 * commit thread and blocks on disk.
 */
#ifndef VSMTPD_QUEUE_DIRECT_H
#define VSMTPD_QUEUE_DIRECT_H

#include <stdbool.h>

#include "spool.h"

bool queue_deliver_direct(void *arg, const char *id, struct spool_file *f);

#endif
