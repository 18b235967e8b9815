/*
 * deliver_maildir.h — delivery of one message copy into a Maildir (contract).
 *
 * Maildir as cr.yp.to describes it: the file is written in DIR/tmp/ (an
 * unnamed O_TMPFILE where the file system allows, so a crash leaves no
 * partial file; else under a unique name), fsync'd, given its name in
 * DIR/new/ (never replacing a file), and DIR/new/ is fsync'd; only then is
 * the delivery reported done. DIR (mkdir
 * -p), tmp/, new/, cur/ are created (0700) when missing. The stored file
 * (0600) has LF line ends (CRLF from the wire becomes LF, as every Maildir
 * reader expects; a lone CR stays) and starts with
 *   Return-Path: <sender>          ("<>" for the null sender)
 *   Delivered-To: recipient
 * Its name in new/ is "SEC.M<usec>P<pid>Q<n>R<random hex>.HOST,S=<size>"
 * (HOST with "/" ":" "," escaped as \057 \072 \054; size = bytes stored).
 * A failure leaves nothing behind in tmp/ or new/.
 * Blocking: runs on a delivery thread; any number of threads at once.
 */
#ifndef VSMTPD_DELIVER_MAILDIR_H
#define VSMTPD_DELIVER_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct maildir_result {
	bool permanent;		/* the failure will not heal by retrying */
	char text[256];		/* "4.3.1 maildir DIR: write: No space left on device" */
	char name[256];		/* on success: the file name in new/ */
	bool already;		/* deliver_maildir_once(): the copy was there before */
};

/*
 * Copies content [off, off+len) of fd (read with pread: fd's offset is not
 * used) into the Maildir dir, with the two headers. Returns 0, or -1 with
 * *res describing the failure: every errno is temporary (ENOSPC, EDQUOT,
 * EIO, EACCES, EROFS, a content shorter than len, ...) except those that
 * say the path can never work: ENOTDIR, ELOOP, ENAMETOOLONG, EINVAL.
 * res->text starts with an RFC 3463 code (X.2.2 quota, X.3.1 disk full,
 * 5.2.0 for a permanent failure, 4.3.0 otherwise).
 */
int deliver_maildir(const char *dir, const char *return_path, const char *delivered_to,
		    int fd, off_t off, off_t len, struct maildir_result *res);

/*
 * The same, exactly once per `unique` (a name no other delivery uses: the
 * queue passes "<arrival>.<queue ID>_<recipient index>"): the copy is
 * "<unique>.<host>,S=<size>" in new/ (and "<unique>.<host>" in tmp/ when
 * it is named there). Such a copy already in new/ (found when its name is
 * refused) was made by a run that died before recording it, and fsync'd
 * before it was named: it counts as this delivery. A reader may have moved
 * it on to cur/ ("<unique>.<host>:2,FLAGS"): with check, new/ and cur/ are
 * searched first (a directory scan, so the queue asks for it only for
 * messages such a run may have delivered). res->already tells the copy was
 * there; the directory holding it is fsync'd before 0 is returned.
 */
int deliver_maildir_once(const char *dir, const char *unique, bool check,
			 const char *return_path, const char *delivered_to, int fd, off_t off,
			 off_t len, struct maildir_result *res);

/*
 * Expands a mailbox template's path part ("./run/mail/%d/%u"): %d the
 * domain, %u the local part (ASCII lower-cased; %d is lower-cased too), %%
 * a percent sign. Returns 0, or -1 (out = "") when: %u is used and the
 * local part is not address_local_is_safe(); %d is used and the domain is
 * empty, starts with "." or holds "/"; a path component made (partly) of
 * substituted text is "." or ".."; the template holds another "%"
 * sequence; or the result does not fit in out[0..size). The template's
 * own text is the admin's and is not checked.
 */
int maildir_expand(const char *tmpl, const char *local, const char *domain, char *out, size_t size);

#endif
