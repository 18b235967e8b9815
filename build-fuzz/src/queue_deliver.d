build-fuzz/src/queue_deliver.o: src/queue_deliver.c src/queue_deliver.h \
  src/config.h src/lib/buf.h src/lib/cidr.h src/log.h src/spool.h \
  src/spool_format.h src/deliver_maildir.h src/lib/xalloc.h \
  src/queue_sched.h src/route.h

src/queue_deliver.h:

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:

src/spool.h:

src/spool_format.h:

src/deliver_maildir.h:

src/lib/xalloc.h:

src/queue_sched.h:

src/route.h:
