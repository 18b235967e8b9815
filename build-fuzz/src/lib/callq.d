build-fuzz/src/lib/callq.o: src/lib/callq.c src/lib/callq.h \
  src/lib/xalloc.h

src/lib/callq.h:

src/lib/xalloc.h:
