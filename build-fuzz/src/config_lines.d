build-fuzz/src/config_lines.o: src/config_lines.c src/config_keys.h \
  src/lib/buf.h

src/config_keys.h:

src/lib/buf.h:
