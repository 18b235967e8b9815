/*
 * http_listen.c — a listening socket for one of the daemon's HTTP servers (see http_listen.h).
 */
#include "http_listen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int http_listen(struct evhttp *http, const struct config_listen *cl, const char *who, char *err,
		size_t errsize)
{
	int fd = socket(cl->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int on = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (fd < 0 || bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) < 0 || listen(fd, 64) < 0 ||
	    evhttp_accept_socket(http, fd) < 0) {
		snprintf(err, errsize, "%s: cannot listen on %s: %s", who, cl->text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}
