build-fuzz/src/config_tls.o: src/config_tls.c src/config.h src/lib/buf.h \
  src/lib/cidr.h src/log.h src/auth.h src/config_keys.h src/lib/xalloc.h \
  src/tls.h

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:

src/auth.h:

src/config_keys.h:

src/lib/xalloc.h:

src/tls.h:
