#include "src/common/socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

namespace vaultfs {
namespace {

using namespace std::chrono_literals;

TEST(SocketTest, FrameRoundTripOverLoopback) {
  auto listener = ListenTcp({"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  uint16_t port = *LocalPort(listener->get());
  std::thread server([&] {
    UniqueFd c(::accept(listener->get(), nullptr, nullptr));
    auto f = ReadFrame(c.get(), DeadlineIn(5s));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(WriteFrame(c.get(), "echo:" + *f, DeadlineIn(5s)).ok());
  });
  auto fd = ConnectTcp({"127.0.0.1", port}, DeadlineIn(5s));
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  std::string big(3 << 20, 'z');
  ASSERT_TRUE(WriteFrame(fd->get(), big, DeadlineIn(5s)).ok());
  auto reply = ReadFrame(fd->get(), DeadlineIn(5s));
  server.join();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(*reply, "echo:" + big);
}

TEST(SocketTest, ReadTimesOutOnSilentPeer) {
  auto listener = ListenTcp({"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok());
  auto fd = ConnectTcp({"127.0.0.1", *LocalPort(listener->get())}, DeadlineIn(5s));
  ASSERT_TRUE(fd.ok());
  auto start = Clock::now();
  auto r = ReadFrame(fd->get(), DeadlineIn(200ms));
  EXPECT_EQ(r.status().code(), ETIMEDOUT);
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(SocketTest, ClosedPeerAndOversizedFrame) {
  auto listener = ListenTcp({"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok());
  uint16_t port = *LocalPort(listener->get());
  std::thread server([&] {
    UniqueFd c(::accept(listener->get(), nullptr, nullptr));
    std::string hdr(4, '\0');
    PutBigEndian32(1u << 30, hdr.data());
    (void)WriteAll(c.get(), hdr, DeadlineIn(5s));
  });
  auto fd = ConnectTcp({"127.0.0.1", port}, DeadlineIn(5s));
  ASSERT_TRUE(fd.ok());
  auto r = ReadFrame(fd->get(), DeadlineIn(5s), 1024);
  EXPECT_EQ(r.status().code(), EMSGSIZE);
  server.join();
  auto r2 = ReadFrame(fd->get(), DeadlineIn(5s));
  EXPECT_EQ(r2.status().code(), ECONNRESET);
}

TEST(SocketTest, ConnectRefusedIsClear) {
  auto listener = ListenTcp({"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok());
  uint16_t port = *LocalPort(listener->get());
  listener->Reset();
  auto fd = ConnectTcp({"127.0.0.1", port}, DeadlineIn(2s));
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), ECONNREFUSED);
  EXPECT_NE(fd.status().message().find("127.0.0.1"), std::string::npos);
}

}  // namespace
}  // namespace vaultfs
