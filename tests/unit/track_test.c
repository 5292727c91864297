/* Write tracking of files (util/track.h): what a live send's pause
 * resends of a disk image. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util/io.h"
#include "util/track.h"

#define G IO_TRACK_GRAIN

static int
tmpfile_fd(char *path)
{
	strcpy(path, "/tmp/track_test.XXXXXX");
	return mkstemp(path);
}

TEST(writes_through_any_fd_of_the_file)
{
	char path[64], buf[100] = { 1 };
	int fd = tmpfile_fd(path), fd2 = open(path, O_RDWR), other;
	char opath[64];
	struct io_track *t;

	other = tmpfile_fd(opath);
	EXPECT_EQ(fd >= 0 && fd2 >= 0 && other >= 0, 1);
	EXPECT_EQ(io_pwrite_full(fd, buf, sizeof(buf), 0), 0);
	t = io_track_start(fd);
	EXPECT_EQ(t != NULL, 1);
	/* before the start: not marked */
	EXPECT_EQ(io_track_dirty(t, 0), 0);
	/* a write through the second fd, across a grain boundary */
	EXPECT_EQ(io_pwrite_full(fd2, buf, sizeof(buf), 3 * G - 50), 0);
	EXPECT_EQ(io_track_dirty(t, 2), 1);
	EXPECT_EQ(io_track_dirty(t, 3), 1);
	EXPECT_EQ(io_track_dirty(t, 1), 0);
	EXPECT_EQ(io_track_dirty(t, 4), 0);
	/* another file's writes are not this one's */
	EXPECT_EQ(io_pwrite_full(other, buf, sizeof(buf), 7 * G), 0);
	EXPECT_EQ(io_track_dirty(t, 7), 0);
	/* far past the end: the bitmap grows */
	EXPECT_EQ(io_pwrite_full(fd, buf, 1, 1000 * G + 1), 0);
	EXPECT_EQ(io_track_dirty(t, 1000), 1);
	EXPECT_EQ(io_track_dirty(t, 999), 0);
	EXPECT_EQ(io_track_dirty(t, 100000), 0);
	io_track_stop(t);
	close(fd);
	close(fd2);
	close(other);
	unlink(path);
	unlink(opath);
}

TEST(a_shrink_marks_what_it_cut_a_growth_nothing)
{
	char path[64];
	int fd = tmpfile_fd(path);
	struct io_track *t;

	EXPECT_EQ(io_ftruncate(fd, 10 * G), 0);
	t = io_track_start(fd);
	EXPECT_EQ(io_ftruncate(fd, 20 * G), 0);
	EXPECT_EQ(io_track_dirty(t, 15), 0);
	EXPECT_EQ(io_ftruncate(fd, 5 * G + 1), 0);
	EXPECT_EQ(io_track_dirty(t, 4), 0);
	EXPECT_EQ(io_track_dirty(t, 5), 1);
	EXPECT_EQ(io_track_dirty(t, 19), 1);
	EXPECT_EQ(io_track_dirty(t, 20), 0);
	io_track_stop(t);
	/* stopped: writes are not looked at */
	EXPECT_EQ(io_ftruncate(fd, 1), 0);
	close(fd);
	unlink(path);
}
