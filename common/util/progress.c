/*
 * Progress display.  On a terminal the bar is redrawn in place with a
 * carriage return; elsewhere each new whole percent is one line
 * "(NN.00/100%)", which is what qemu-img -p prints, so scripts that
 * parse it keep working.
 */
#include "util/progress.h"

#include <stdio.h>
#include <unistd.h>

void
progress_init(struct progress *p, bool on, uint64_t total)
{
	p->on = on;
	p->tty = isatty(2);
	p->total = total;
	p->last = -1;
	progress_update(p, 0);
}

void
progress_update(struct progress *p, uint64_t done)
{
	int pct;

	if (!p->on)
		return;
	pct = p->total ? (int)(done * 100 / p->total) : 100;
	if (pct == p->last)
		return;
	p->last = pct;
	if (p->tty)
		fprintf(stderr, "\r    (%d.00/100%%)", pct);
	else
		fprintf(stderr, "    (%d.00/100%%)\n", pct);
}

void
progress_end(struct progress *p)
{
	if (!p->on)
		return;
	progress_update(p, p->total);
	if (p->tty)
		fputc('\n', stderr);
}
