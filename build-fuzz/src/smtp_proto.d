build-fuzz/src/smtp_proto.o: src/smtp_proto.c src/smtp_proto.h \
  src/address.h src/lib/xalloc.h src/smtp_proto_int.h src/lib/buf.h

src/smtp_proto.h:

src/address.h:

src/lib/xalloc.h:

src/smtp_proto_int.h:

src/lib/buf.h:
