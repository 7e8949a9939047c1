#include "src/common/status.h"

#include <gtest/gtest.h>

namespace vaultfs {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  VFS_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

Status CheckPositive(int x) {
  if (x <= 0) return Status(ERANGE, "not positive");
  return Status::Ok();
}

Status Chain(int x) {
  VFS_RETURN_IF_ERROR(CheckPositive(x));
  return Status::Ok();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFound("no such file 'a'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ENOENT);
  EXPECT_EQ(s.ToString(), "ENOENT: no such file 'a'");
  EXPECT_EQ(s.Annotate("get /x").ToString(), "ENOENT: get /x: no such file 'a'");
  EXPECT_TRUE(Status::Ok().Annotate("ctx").ok());
}

TEST(StatusTest, ErrnoNamesRoundTrip) {
  for (int code : {ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, EACCES, EINVAL, EIO, ENOSPC,
                   EMSGSIZE, ETIMEDOUT, EXDEV, ENAMETOOLONG}) {
    EXPECT_EQ(ErrnoFromName(ErrnoName(code)), code) << ErrnoName(code);
  }
  EXPECT_EQ(ErrnoName(0), "OK");
  EXPECT_EQ(ErrnoFromName("ENOTAREALCODE"), EIO);
  EXPECT_EQ(ErrnoName(9999), "E9999");
}

TEST(ResultTest, ValueAndPropagation) {
  auto q = Quarter(8);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 2);
  auto bad = Quarter(6);  // 6/2 = 3 is odd
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), EINVAL);
  EXPECT_EQ(bad.status().message(), "odd: 3");
  EXPECT_EQ(Chain(-1).code(), ERANGE);
  EXPECT_TRUE(Chain(1).ok());
}

TEST(ResultTest, OkStatusIsNotAValue) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), EINVAL);
}

}  // namespace
}  // namespace vaultfs
