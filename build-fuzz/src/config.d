build-fuzz/src/config.o: src/config.c src/config.h src/lib/buf.h \
  src/lib/cidr.h src/log.h src/auth.h src/config_keys.h src/lib/xalloc.h

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:

src/auth.h:

src/config_keys.h:

src/lib/xalloc.h:
