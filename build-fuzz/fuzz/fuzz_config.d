build-fuzz/fuzz/fuzz_config.o: fuzz/fuzz_config.c src/config.h \
  src/lib/buf.h src/lib/cidr.h src/log.h

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:
