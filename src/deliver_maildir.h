/*
 * deliver_maildir.h — delivery of one message copy into a Maildir (contract).
 *
 * Maildir as cr.yp.to describes it: the file is written in DIR/tmp/ under a
 * unique name, fsync'd, renamed into DIR/new/, and DIR/new/ is fsync'd; only
 * then is the delivery reported done. DIR, tmp/, new/, cur/ are created
 * (0700) when missing. The stored file has LF line ends (CRLF from the wire
 * becomes LF, as every Maildir reader expects) and starts with
 *   Return-Path: <sender>
 *   Delivered-To: recipient
 * A failure leaves nothing behind in tmp/.
 * Blocking: runs on a delivery thread.
 */
#ifndef VSMTPD_DELIVER_MAILDIR_H
#define VSMTPD_DELIVER_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct maildir_result {
	bool permanent;		/* the failure will not heal by retrying */
	char text[256];		/* what went wrong, for the log and a DSN */
	char name[256];		/* on success: the file name in new/ */
};

/*
 * Copies content [off, off+len) of fd into the Maildir dir, with the two
 * headers. Returns 0, or -1 with *res describing the failure (ENOSPC, EDQUOT
 * and EIO are temporary; a path that cannot be a directory is permanent).
 */
int deliver_maildir(const char *dir, const char *return_path, const char *delivered_to,
		    int fd, off_t off, off_t len, struct maildir_result *res);

/*
 * Expands a mailbox template's path part ("./run/mail/%d/%u"): %d the
 * domain, %u the local part (lower-cased), %% a percent sign. Returns 0, or
 * -1 when the local part is not address_local_is_safe() or the result does
 * not fit in out[0..size).
 */
int maildir_expand(const char *tmpl, const char *local, const char *domain, char *out, size_t size);

#endif
