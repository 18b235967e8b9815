/*
 * control_client.h — what the control API's command-line clients share
 * (vsmtpctl, vsmtpd-sendmail): finding the socket, connecting (contract).
 */
#ifndef VSMTPD_CONTROL_CLIENT_H
#define VSMTPD_CONTROL_CLIENT_H

#include "lib/buf.h"

#define CONTROL_DEFAULT_CONFIG "/etc/vsmtpd/vsmtpd.conf"

/* What a client needs to know of a config file. */
struct control_site {
	char *control;		/* [global] control: the socket */
	char *hostname;		/* the first virtual server's hostname, or NULL */
};

/*
 * Reads path as the daemon does (config_load). When that fails — a user
 * not allowed to read the TLS keys or password files it names, or an edit
 * with a mistake that `reload` is about to report — only the [global]
 * control line and the first server's hostname are picked out of it.
 * Unset values take the daemon's defaults (control) or stay NULL. Returns
 * 0, or -1 with the loader's errors in *errors when the file cannot be
 * read at all.
 */
int control_site_load(const char *path, struct control_site *s, struct buf *errors);

/* The daemon's default socket ([global] control's default). Caller frees. */
char *control_default_socket(void);

void control_site_free(struct control_site *s);

/* A connected stream socket to the control socket at path, or -1 with errno. */
int control_client_connect(const char *path);

#endif
