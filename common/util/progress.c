/*
 * Progress display.  On a terminal the bar is redrawn in place with a
 * carriage return; elsewhere each new whole percent is one line
 * "(NN.00/100%)", which is what qemu-img -p prints, so scripts that
 * parse it keep working.  SIGUSR1 asks for one line now, as dd does.
 */
#include "util/progress.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t asked;

static void
on_usr1(int sig)
{
	(void)sig;
	asked = 1;
}

void
progress_on_sigusr1(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
}

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

	pct = p->total ? (int)(done * 100 / p->total) : 100;
	if (asked) {
		asked = 0;
		fprintf(stderr, "    (%d.00/100%%) %llu of %llu bytes\n", pct,
		    (unsigned long long)done, (unsigned long long)p->total);
	}
	if (!p->on)
		return;
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
