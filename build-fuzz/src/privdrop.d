build-fuzz/src/privdrop.o: src/privdrop.c src/privdrop.h

src/privdrop.h:
