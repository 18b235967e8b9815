build-fuzz/src/lib/xalloc.o: src/lib/xalloc.c src/lib/xalloc.h

src/lib/xalloc.h:
