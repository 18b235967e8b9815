build-fuzz/src/queue.o: src/queue.c src/queue.h src/config.h \
  src/lib/buf.h src/lib/cidr.h src/log.h src/spool.h src/spool_format.h \
  src/lib/xalloc.h src/queue_deliver.h

src/queue.h:

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:

src/spool.h:

src/spool_format.h:

src/lib/xalloc.h:

src/queue_deliver.h:
