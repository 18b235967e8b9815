build-fuzz/src/spool_format.o: src/spool_format.c src/spool_format.h \
  src/lib/buf.h src/lib/xalloc.h src/smtp_proto.h src/address.h

src/spool_format.h:

src/lib/buf.h:

src/lib/xalloc.h:

src/smtp_proto.h:

src/address.h:
