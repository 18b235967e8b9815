build-fuzz/src/server.o: src/server.c src/server.h src/config.h \
  src/lib/buf.h src/lib/cidr.h src/log.h src/spool.h src/spool_format.h \
  src/worker.h src/auth.h src/lib/xalloc.h src/policy.h src/address.h \
  src/smtp_session.h

src/server.h:

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:

src/spool.h:

src/spool_format.h:

src/worker.h:

src/auth.h:

src/lib/xalloc.h:

src/policy.h:

src/address.h:

src/smtp_session.h:
