build-fuzz/src/auth.o: src/auth.c src/auth.h src/lib/buf.h \
  src/lib/xalloc.h

src/auth.h:

src/lib/buf.h:

src/lib/xalloc.h:
