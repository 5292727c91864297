/* Size strings: what users type for --memory and disk sizes. */
#include <errno.h>

#include "test.h"
#include "util/size.h"

TEST(plain_and_suffixes)
{
	uint64_t v;

	EXPECT_EQ(size_parse("4096", &v), 0);
	EXPECT_EQ(v, 4096);
	EXPECT_EQ(size_parse("512M", &v), 0);
	EXPECT_EQ(v, 512ULL << 20);
	EXPECT_EQ(size_parse("2G", &v), 0);
	EXPECT_EQ(v, 2ULL << 30);
	EXPECT_EQ(size_parse("64k", &v), 0);
	EXPECT_EQ(v, 64ULL << 10);
	EXPECT_EQ(size_parse("1GiB", &v), 0);
	EXPECT_EQ(v, 1ULL << 30);
	EXPECT_EQ(size_parse("1.5G", &v), 0);
	EXPECT_EQ(v, 3ULL << 29);
}

TEST(rejects_garbage)
{
	uint64_t v = 7;

	EXPECT_EQ(size_parse("12X", &v), -EINVAL);
	EXPECT_EQ(size_parse("", &v), -EINVAL);
	EXPECT_EQ(size_parse("M", &v), -EINVAL);
	EXPECT_EQ(size_parse("-1G", &v), -EINVAL);
	EXPECT_EQ(size_parse("1.3B", &v), -EINVAL);
	EXPECT_EQ(size_parse("99999999999999999999", &v), -ERANGE);
	EXPECT_EQ(size_parse("100000E", &v), -ERANGE);
	EXPECT_EQ(v, 7);
}

TEST(format)
{
	char buf[32];

	EXPECT_STREQ(size_format(512ULL << 20, buf, sizeof(buf)), "512 MiB");
	EXPECT_STREQ(size_format(3ULL << 29, buf, sizeof(buf)), "1.5 GiB");
	EXPECT_STREQ(size_format(100, buf, sizeof(buf)), "100 B");
	/* qemu-img's forms, which vm-disk info must print */
	EXPECT_STREQ(size_format(0, buf, sizeof(buf)), "0 B");
	EXPECT_STREQ(size_format(999, buf, sizeof(buf)), "999 B");
	EXPECT_STREQ(size_format(1000, buf, sizeof(buf)), "0.977 KiB");
	EXPECT_STREQ(size_format(10ULL << 20, buf, sizeof(buf)), "10 MiB");
	EXPECT_STREQ(size_format(4215276, buf, sizeof(buf)), "4.02 MiB");
	EXPECT_STREQ(size_format(197632, buf, sizeof(buf)), "193 KiB");
	EXPECT_STREQ(size_format(~0ULL, buf, sizeof(buf)), "16 EiB");
}
