build-fuzz/src/queue_sched.o: src/queue_sched.c src/queue_sched.h

src/queue_sched.h:
