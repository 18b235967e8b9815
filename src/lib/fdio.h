/*
 * fdio.h — writing a whole buffer to a descriptor (contract).
 *
 * write(2) may write less than asked (pipes, sockets, signals); every
 * caller that needs all of it written loops the same way, so it is here.
 */
#ifndef VSMTPD_LIB_FDIO_H
#define VSMTPD_LIB_FDIO_H

#include <stddef.h>

/* Writes all of p[0..n) to fd, again after a short write or EINTR. 0, or -1
 * with errno (EIO when write returned 0). */
int fd_write_all(int fd, const void *p, size_t n);

#endif
