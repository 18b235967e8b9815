build-fuzz/src/policy.o: src/policy.c src/policy.h src/address.h \
  src/config.h src/lib/buf.h src/lib/cidr.h src/log.h

src/policy.h:

src/address.h:

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:
