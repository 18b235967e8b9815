build-fuzz/src/smtp_proto_data.o: src/smtp_proto_data.c src/smtp_proto.h \
  src/address.h src/smtp_proto_int.h src/lib/buf.h

src/smtp_proto.h:

src/address.h:

src/smtp_proto_int.h:

src/lib/buf.h:
