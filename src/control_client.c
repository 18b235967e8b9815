/*
 * control_client.c — finding and reaching the control socket, for the
 * command-line clients (see control_client.h).
 */
#include "control_client.h"

#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "config_keys.h"
#include "lib/xalloc.h"

char *control_default_socket(void)
{
	const struct config_key *k = config_key_find("control");
	return xstrdup(k->def);
}

/* inih callback: [global] control, and the first [server ...]'s hostname. */
static int site_pick(void *arg, const char *section, const char *name, const char *value)
{
	struct control_site *s = arg;
	if (strcmp(section, "global") == 0 && strcmp(name, "control") == 0) {
		free(s->control);
		s->control = xstrdup(value);
	} else if (strncmp(section, "server", 6) == 0 && strcmp(name, "hostname") == 0 && s->hostname == NULL) {
		s->hostname = xstrdup(value);
	}
	return 1;
}

int control_site_load(const char *path, struct control_site *s, struct buf *errors)
{
	memset(s, 0, sizeof(*s));
	struct config *cfg = NULL;
	if (config_load(path, &cfg, errors) == 0) {
		s->control = xstrdup(cfg->global.control);
		if (cfg->nservers > 0)
			s->hostname = xstrdup(cfg->servers[0].hostname);
		config_unref(cfg);
		return 0;
	}
	if (ini_parse(path, site_pick, s) < 0)
		return -1;	/* not even readable: errors say why */
	if (s->control == NULL)
		s->control = control_default_socket();
	return 0;
}

void control_site_free(struct control_site *s)
{
	free(s->control);
	free(s->hostname);
	memset(s, 0, sizeof(*s));
}

int control_client_connect(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(un.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(un.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0)
		return fd;
	int err = errno;
	close(fd);
	errno = err;
	return -1;
}
