build-fuzz/src/config_users.o: src/config_users.c src/config.h \
  src/lib/buf.h src/lib/cidr.h src/log.h src/config_keys.h \
  src/lib/xalloc.h

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:

src/config_keys.h:

src/lib/xalloc.h:
