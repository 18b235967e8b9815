/*
 * control_int.h — what the control commands share (private to control*.c).
 *
 * Each command is a function that reads its arguments from the request
 * object and answers with a result (a new JSON reference) or an error
 * sentence. They run on the main thread, one at a time, and act on the
 * daemon (daemon.h). docs/CONTROL.md is the list users read.
 */
#ifndef VSMTPD_CONTROL_INT_H
#define VSMTPD_CONTROL_INT_H

#include <stdbool.h>

#include <jansson.h>

#include "daemon.h"
#include "lib/buf.h"

/* The request member control.c sets to the client's uid (SO_PEERCRED; -1 unknown), replacing
 * whatever the client sent under that name. */
#define CONTROL_PEER_UID "_peer_uid"

/* 0 with *result set, or -1 with a sentence in *err. */
typedef int (*control_cmd_fn)(struct daemon *d, json_t *req, json_t **result, struct buf *err);

/*
 * The string argument name of req: NULL when absent (with *err set and
 * -1 in *bad when required), or when it is not a string (always an error).
 */
const char *control_arg(json_t *req, const char *name, bool required, struct buf *err, int *bad);

/* control_server.c */
int control_status(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_server_list(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_server_show(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_server_stop(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_server_start(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_server_pause(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_server_resume(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_reload(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_stats(struct daemon *d, json_t *req, json_t **result, struct buf *err);

/* control_queue.c */
int control_queue_list(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_queue_show(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_queue_flush(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_queue_hold(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_queue_release(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_queue_delete(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_queue_bounce(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_queue_summary(struct daemon *d, json_t *req, json_t **result, struct buf *err);

/* control_submit.c */
int control_submit(struct daemon *d, json_t *req, json_t **result, struct buf *err);

/* control_config.c */
int control_config_keys(struct daemon *d, json_t *req, json_t **result, struct buf *err);
int control_config_set(struct daemon *d, json_t *req, json_t **result, struct buf *err);

/* control_history.c */
int control_stats_history(struct daemon *d, json_t *req, json_t **result, struct buf *err);

#endif
