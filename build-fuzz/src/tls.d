build-fuzz/src/tls.o: src/tls.c src/tls.h src/lib/buf.h src/lib/xalloc.h

src/tls.h:

src/lib/buf.h:

src/lib/xalloc.h:
