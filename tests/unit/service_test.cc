// daemon/common's service toolkit: the health-gated watchdog, signal
// handling, and the HTTP loop liveness the search server's watchdog reads.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "http_server.h"
#include "notifier.h"
#include "notify_socket.h"
#include "signals.h"
#include "testutil.h"

namespace frb::service {
namespace {

using std::chrono::milliseconds;

// Sets the variables systemd passes to a service for the test's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

int CountFor(const test::NotifySocket& notify, const std::string& what, milliseconds wait) {
  std::this_thread::sleep_for(wait);
  return notify.Count(what);
}

TEST(NotifierTest, WatchdogPingsOnlyWhileHealthy) {
  test::TempDir dir;
  test::NotifySocket notify(dir.Sub("notify.sock"));
  ScopedEnv socket("NOTIFY_SOCKET", notify.path());
  ScopedEnv usec("WATCHDOG_USEC", "100000");  // a ping every 50 ms
  std::atomic<bool> healthy{true};
  Notifier notifier;
  ASSERT_TRUE(notifier.StartWatchdog([&](std::string* why) {
    if (!healthy) *why = "stuck for the test";
    return healthy.load();
  }));
  EXPECT_GE(CountFor(notify, "WATCHDOG=1", milliseconds(400)), 3) << notify.all();
  healthy = false;
  std::this_thread::sleep_for(milliseconds(100));  // a ping may be in flight
  const int before = notify.Count("WATCHDOG=1");
  EXPECT_EQ(CountFor(notify, "WATCHDOG=1", milliseconds(400)), before) << notify.all();
  healthy = true;
  EXPECT_GT(CountFor(notify, "WATCHDOG=1", milliseconds(400)), before) << notify.all();
  notifier.StopThreads();
}

TEST(NotifierTest, NoWatchdogWithoutWatchdogUsec) {
  test::TempDir dir;
  test::NotifySocket notify(dir.Sub("notify.sock"));
  ScopedEnv socket("NOTIFY_SOCKET", notify.path());
  Notifier notifier;
  EXPECT_FALSE(notifier.StartWatchdog([](std::string*) { return true; }));
}

TEST(NotifierTest, ReloadingCarriesMonotonicTimeAndStatus) {
  test::TempDir dir;
  test::NotifySocket notify(dir.Sub("notify.sock"));
  ScopedEnv socket("NOTIFY_SOCKET", notify.path());
  Notifier notifier;
  notifier.Reloading("reloading for the test");
  notifier.Ready("serving");
  notifier.Stopping("stopping");
  ASSERT_TRUE(notify.WaitFor("STOPPING=1\nSTATUS=stopping", 2000)) << notify.all();
  EXPECT_EQ(notify.Count("RELOADING=1\nMONOTONIC_USEC="), 1) << notify.all();
  EXPECT_EQ(notify.Count("STATUS=reloading for the test"), 1) << notify.all();
  EXPECT_EQ(notify.Count("READY=1\nSTATUS=serving"), 1) << notify.all();
}

TEST(SignalsTest, HangupReloadsAndTermStops) {
  Signals signals;
  ASSERT_EQ(::raise(SIGHUP), 0);
  EXPECT_EQ(signals.WaitAny(), SignalEvent::kReload);
  ASSERT_EQ(::raise(SIGTERM), 0);
  EXPECT_EQ(signals.WaitAny(), SignalEvent::kStop);
  EXPECT_STREQ(Signals::StopCause(), "SIGTERM");
  // A stop stays signalled: a second waiter wakes too.
  signals.WaitStop();
}

TEST(SignalsTest, ReloadThreadEndsWhenClosedAndStopWakesStopWaiter) {
  Signals signals;
  std::atomic<int> reloads{0};
  std::thread reloader([&] {
    while (signals.WaitReload() == SignalEvent::kReload) ++reloads;
  });
  ASSERT_EQ(::raise(SIGHUP), 0);
  for (int i = 0; i < 200 && reloads == 0; ++i) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(reloads, 1);
  std::thread stopper([&] { signals.WaitStop(); });
  signals.RequestStop();
  stopper.join();
  EXPECT_STREQ(Signals::StopCause(), "request");
  signals.CloseReload();
  reloader.join();
  EXPECT_EQ(reloads, 1);
}

TEST(HttpLoopTest, AliveOnlyWhileTheLoopRuns) {
  http::HttpServer server(http::ServerOptions{});
  auto port = server.Bind(*ParseHostPort("127.0.0.1:0", /*allow_port_zero=*/true));
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  EXPECT_FALSE(server.LoopAlive(std::chrono::seconds(10)));
  server.Start();
  bool alive = false;
  for (int i = 0; i < 200 && !alive; ++i) {
    alive = server.LoopAlive(std::chrono::seconds(10));
    if (!alive) std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_TRUE(alive);
  server.Stop();
  EXPECT_FALSE(server.LoopAlive(std::chrono::seconds(10)));
}

}  // namespace
}  // namespace frb::service
