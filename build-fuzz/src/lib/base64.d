build-fuzz/src/lib/base64.o: src/lib/base64.c src/lib/base64.h \
  src/lib/buf.h

src/lib/base64.h:

src/lib/buf.h:
