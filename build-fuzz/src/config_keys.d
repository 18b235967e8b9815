build-fuzz/src/config_keys.o: src/config_keys.c src/config_keys.h \
  src/lib/buf.h src/config.h src/lib/cidr.h src/log.h src/tls.h

src/config_keys.h:

src/lib/buf.h:

src/config.h:

src/lib/cidr.h:

src/log.h:

src/tls.h:
