build-fuzz/src/smtp_session.o: src/smtp_session.c src/smtp_session.h \
  src/policy.h src/address.h src/config.h src/lib/buf.h src/lib/cidr.h \
  src/log.h src/server.h src/spool.h src/spool_format.h src/worker.h \
  src/auth.h src/auth_sasl.h src/lib/xalloc.h src/smtp_proto.h src/tls.h

src/smtp_session.h:

src/policy.h:

src/address.h:

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:

src/server.h:

src/spool.h:

src/spool_format.h:

src/worker.h:

src/auth.h:

src/auth_sasl.h:

src/lib/xalloc.h:

src/smtp_proto.h:

src/tls.h:
