build-fuzz/src/auth_sasl.o: src/auth_sasl.c src/auth_sasl.h \
  src/lib/base64.h src/lib/buf.h src/lib/xalloc.h

src/auth_sasl.h:

src/lib/base64.h:

src/lib/buf.h:

src/lib/xalloc.h:
