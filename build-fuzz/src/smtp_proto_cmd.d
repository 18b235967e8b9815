build-fuzz/src/smtp_proto_cmd.o: src/smtp_proto_cmd.c src/address.h \
  src/smtp_proto.h src/smtp_proto_int.h src/lib/buf.h

src/address.h:

src/smtp_proto.h:

src/smtp_proto_int.h:

src/lib/buf.h:
