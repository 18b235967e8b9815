build-fuzz/src/spool.o: src/spool.c src/spool.h src/spool_format.h \
  src/lib/buf.h src/lib/xalloc.h src/log.h

src/spool.h:

src/spool_format.h:

src/lib/buf.h:

src/lib/xalloc.h:

src/log.h:
