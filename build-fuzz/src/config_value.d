build-fuzz/src/config_value.o: src/config_value.c src/config_keys.h \
  src/lib/buf.h src/config.h src/lib/cidr.h src/log.h src/lib/xalloc.h

src/config_keys.h:

src/lib/buf.h:

src/config.h:

src/lib/cidr.h:

src/log.h:

src/lib/xalloc.h:
