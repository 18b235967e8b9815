/*
 * main.c — vsmtpd: arguments, start-up order, privilege drop, signals.
 *
 * Start-up order, and why:
 *   1. load and check the config (nothing is touched if it is wrong);
 *   2. open the spool (creates it, removes crash leftovers in tmp/);
 *   3. start the worker threads and bind every virtual server's listeners
 *      (as root when ports < 1024 need it);
 *   4. open the control socket (control.c), the metrics endpoint and the
 *      web console (console.c: its port may be privileged too), hand the
 *      spool to [global] user and drop privileges;
 *   5. recover the queue from the spool, then log "event=ready".
 * SIGHUP re-reads the config (daemon_reload(), as `vsmtpctl reload` does).
 * Shutdown (SIGTERM/SIGINT): close the control socket, the console and the
 * listeners, tell every session to end (one whose message is being
 * committed finishes the commit and gets its reply), wait for them, then
 * stop deliveries and the spool's commit threads, and exit 0.
 * Nothing else lives here: each step is a call into its module.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "console.h"
#include "control.h"
#include "daemon.h"
#include "dns.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "log.h"
#include "metrics.h"
#include "outbound_conn.h"
#include "privdrop.h"
#include "queue.h"
#include "server.h"
#include "smtp_session.h"
#include "spool.h"
#include "worker.h"

#define DEFAULT_CONFIG "/etc/vsmtpd/vsmtpd.conf"
#define COMMIT_THREADS 16	/* parallel fsyncs let the kernel merge journal commits */
#define SHUTDOWN_WAIT_SECONDS 30

/*
 * Every connection, spool and Maildir file is a descriptor: the soft limit
 * (often 1024, barely above the default max_connections) is raised to the
 * hard one, as far as the kernel allows. Running out is survivable (the
 * listeners pause, server.c) but refuses clients that could be served.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("event=fd_limit from=%llu to=%llu", (unsigned long long)was,
			 (unsigned long long)rl.rlim_cur);
	else
		log_warn("event=fd_limit limit=%llu error=\"%s\"", (unsigned long long)was, strerror(errno));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vsmtpd [-c config] [-n] [-V]\n"
		   "  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		   "  -n       check the configuration and exit (0: valid)\n"
		   "  -V       print the version and exit\n");
}

static void commit_hook(void *arg, const char *id)
{
	queue_submit(arg, id);
}

static void shutdown_poll(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	if (smtp_session_count() == 0 || ++d->shutdown_ticks > SHUTDOWN_WAIT_SECONDS * 10) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	struct timeval tv = { 0, 100000 };
	evtimer_add(d->shutdown_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (sig == SIGHUP) {
		if (d->shutdown_timer != NULL)
			return;
		struct buf errors = BUF_INIT, added = BUF_INIT, removed = BUF_INIT, kept = BUF_INIT;
		if (daemon_reload(d, &errors, &added, &removed, &kept) < 0)
			fputs(buf_str(&errors), stderr);
		buf_free(&errors);
		buf_free(&added);
		buf_free(&removed);
		buf_free(&kept);
		return;
	}
	if (d->shutdown_timer != NULL)
		return;		/* already stopping */
	log_info("event=shutdown signal=%d", (int)sig);
	control_close(d->control);
	d->control = NULL;
	metrics_close(d->metrics);
	d->metrics = NULL;
	console_close(d->console);
	d->console = NULL;
	for (size_t i = 0; i < d->nservers; i++)
		server_stop(d->servers[i]);
	d->nservers = 0;
	for (unsigned i = 0; i < d->ctx.nworkers; i++)
		worker_post(d->ctx.workers[i], smtp_session_shutdown_all, NULL);
	d->shutdown_timer = evtimer_new(d->base, shutdown_poll, d);
	shutdown_poll(-1, 0, d);
}

static void drop_privileges(struct daemon *d)
{
	const char *user = d->cfg->global.user;
	char err[256];
	uid_t uid;
	gid_t gid;

	if (user == NULL)
		return;
	if (privdrop_lookup(user, &uid, &gid, err, sizeof(err)) < 0)
		log_fatal("event=fatal reason=\"%s\"", err);
	if (geteuid() != 0) {
		if (geteuid() != uid)
			log_warn("event=privileges reason=\"not started as root: staying uid %ld, "
				 "not user %s\"", (long)geteuid(), user);
		return;
	}
	if (privdrop_chown_tree(d->cfg->global.spool, uid, gid) < 0)
		log_fatal("event=fatal reason=\"cannot hand %s to %s: %s\"", d->cfg->global.spool,
			  user, strerror(errno));
	if (privdrop_to(user, uid, gid, err, sizeof(err)) < 0)
		log_fatal("event=fatal reason=\"%s\"", err);
	log_info("event=privileges user=%s uid=%ld", user, (long)uid);
}

static void start(struct daemon *d)
{
	char err[512];
	struct config *cfg = d->cfg;

	d->spool = spool_open(cfg->global.spool, COMMIT_THREADS, err, sizeof(err));
	if (d->spool == NULL)
		log_fatal("event=fatal reason=\"spool: %s\"", err);
	d->ctx.base = d->base;
	d->ctx.spool = d->spool;
	d->ctx.nworkers = cfg->global.workers;
	d->ctx.workers = xcalloc(d->ctx.nworkers, sizeof(*d->ctx.workers));
	for (unsigned i = 0; i < d->ctx.nworkers; i++)
		d->ctx.workers[i] = worker_start(i);

	d->dns = dns_new(cfg->global.dns, err, sizeof(err));
	if (d->dns == NULL)
		log_fatal("event=fatal reason=\"dns: %s\"", err);
	d->pool = oconn_pool_new(cfg->global.outbound_idle_time, cfg->global.max_outbound_connections);
	d->queue = queue_new(d->base, d->spool, cfg, cfg->global.delivery_threads, d->dns, d->pool);
	spool_set_commit_hook(d->spool, commit_hook, d->queue);

	d->servers = xcalloc(cfg->nservers, sizeof(*d->servers));
	for (size_t i = 0; i < cfg->nservers; i++) {
		d->servers[i] = server_start(&d->ctx, cfg, &cfg->servers[i], err, sizeof(err));
		if (d->servers[i] == NULL)
			log_fatal("event=fatal server=%s reason=\"%s\"", cfg->servers[i].name, err);
		d->nservers++;
	}
	d->control = control_open(d, err, sizeof(err));
	if (d->control == NULL)
		log_fatal("event=fatal reason=\"%s\"", err);
	err[0] = '\0';
	d->metrics = metrics_open(d, err, sizeof(err));
	if (d->metrics == NULL && err[0] != '\0')
		log_fatal("event=fatal reason=\"%s\"", err);
	d->console = console_open(d, err, sizeof(err));
	if (d->console == NULL && err[0] != '\0')
		log_fatal("event=fatal reason=\"%s\"", err);
	drop_privileges(d);

	int n = queue_recover(d->queue);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	evsignal_add(d->sig_term, NULL);
	evsignal_add(d->sig_int, NULL);
	evsignal_add(d->sig_hup, NULL);
	log_info("event=ready version=" VSMTPD_VERSION " servers=%zu workers=%u queued=%d",
		 cfg->nservers, d->ctx.nworkers, n);
}

static void stop(struct daemon *d)
{
	for (unsigned i = 0; i < d->ctx.nworkers; i++)
		worker_stop(d->ctx.workers[i]);
	free(d->ctx.workers);
	free(d->servers);
	/* The queue's delivery threads use the spool, and the spool's commits
	 * feed the queue: unhook, stop deliveries, then stop the spool. */
	spool_set_commit_hook(d->spool, NULL, NULL);
	queue_free(d->queue);
	oconn_pool_free(d->pool);
	dns_free(d->dns);
	spool_close(d->spool);
	event_free(d->sig_term);
	event_free(d->sig_int);
	event_free(d->sig_hup);
	if (d->shutdown_timer != NULL)
		event_free(d->shutdown_timer);
	event_base_free(d->base);
	config_unref(d->cfg);
	log_info("event=stopped");
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	bool check_only = false;
	int opt;

	while ((opt = getopt(argc, argv, "c:nVh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'V':
			printf("vsmtpd " VSMTPD_VERSION "\n");
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	struct daemon d = { .config_path = path, .started = (long long)time(NULL) };
	struct buf errors = BUF_INIT;
	if (config_load(path, &d.cfg, &errors) < 0) {
		fputs(buf_str(&errors), stderr);
		buf_free(&errors);
		return 1;
	}
	buf_free(&errors);
	if (check_only) {
		fprintf(stderr, "%s: configuration ok (%zu virtual servers)\n", path, d.cfg->nservers);
		config_unref(d.cfg);
		return 0;
	}

	log_init(d.cfg->global.log);
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	d.base = event_base_new();
	if (d.base == NULL)
		log_fatal("event=fatal reason=\"event_base_new failed\"");
	start(&d);
	event_base_dispatch(d.base);
	stop(&d);
	libevent_global_shutdown();
	return 0;
}
