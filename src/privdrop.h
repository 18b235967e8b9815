/*
 * privdrop.h — giving up root after start-up (contract).
 *
 * vsmtpd is started as root only so that it can bind ports below 1024 and
 * read its keys; everything after that runs as [global] user.
 */
#ifndef VSMTPD_PRIVDROP_H
#define VSMTPD_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* Looks up user. Returns 0, or -1 with a message in err. */
int privdrop_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errsize);
/* Gives dir, its subdirectories and their files to uid:gid (the spool, so the
 * unprivileged daemon can use what a root run left). -1 with errno. */
int privdrop_chown_tree(const char *dir, uid_t uid, gid_t gid);
/* setgroups/setgid/setuid to user, irrevocably. Returns 0, or -1 with err. */
int privdrop_to(const char *user, uid_t uid, gid_t gid, char *err, size_t errsize);

#endif
