/*
 * metrics.h — the Prometheus endpoint, [global] metrics (contract).
 *
 * Plain HTTP on the addresses the config gives, main thread, GET /metrics
 * only. Off (NULL, and nothing to close) when [global] metrics is unset.
 */
#ifndef VSMTPD_METRICS_H
#define VSMTPD_METRICS_H

#include <stddef.h>

#include "daemon.h"

struct metrics;

/* NULL with err[0] == '\0' when off; NULL with a message in err on failure. */
struct metrics *metrics_open(struct daemon *d, char *err, size_t errsize);
void metrics_close(struct metrics *m);

#endif
