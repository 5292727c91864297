/* Progress on stderr for long work: a bar on a terminal, one plain line
 * per percent otherwise (for scripts).  Off unless enabled. */
#ifndef VM_UTIL_PROGRESS_H
#define VM_UTIL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool on, tty;
	uint64_t total;
	int last;               /* last percent shown */
};

void progress_init(struct progress *p, bool on, uint64_t total);
/* SIGUSR1 makes the next progress_update print one line, even when off. */
void progress_on_sigusr1(void);
void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);

#endif
