build-fuzz/src/worker.o: src/worker.c src/worker.h src/lib/callq.h \
  src/lib/xalloc.h src/log.h

src/worker.h:

src/lib/callq.h:

src/lib/xalloc.h:

src/log.h:
