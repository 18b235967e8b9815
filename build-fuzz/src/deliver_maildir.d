build-fuzz/src/deliver_maildir.o: src/deliver_maildir.c \
  src/deliver_maildir.h src/address.h src/lib/xalloc.h

src/deliver_maildir.h:

src/address.h:

src/lib/xalloc.h:
