build-fuzz/src/route.o: src/route.c src/route.h src/config.h \
  src/lib/buf.h src/lib/cidr.h src/log.h src/address.h \
  src/deliver_maildir.h src/policy.h

src/route.h:

src/config.h:

src/lib/buf.h:

src/lib/cidr.h:

src/log.h:

src/address.h:

src/deliver_maildir.h:

src/policy.h:
