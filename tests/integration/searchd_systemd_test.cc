// faiss-searchd under systemd, as faiss-rebuildd: sd_notify readiness,
// status, reload and stop notices, the watchdog, and the shared log formats
// (daemon/common).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "notify_socket.h"
#include "searchd_fixture.h"

namespace frb {
namespace searchd_test {
namespace {

using SearchdSystemdTest = SearchdTest;

// Its unit is Type=notify with WatchdogSec: without READY=1 systemd would
// kill it at TimeoutStartSec, without WATCHDOG=1 at WatchdogSec.
TEST_F(SearchdSystemdTest, TellsSystemdReadyWatchdogAndStopping) {
  test::NotifySocket notify(dir_.Sub("notify.sock"));
  SearchdProcess srv(config_path_, dir_.path(), {},
                     {"NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=400000"});
  ASSERT_GT(srv.port(), 0) << srv.Log();
  ASSERT_TRUE(notify.WaitFor("READY=1")) << notify.all();
  // At half of WatchdogSec: a few within a second.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_GE(notify.Count("WATCHDOG=1"), 3) << notify.all();
  EXPECT_EQ(notify.Count("STOPPING=1"), 0) << notify.all();
  EXPECT_EQ(srv.Terminate(), 0) << srv.Log();
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", 2000)) << notify.all();
  EXPECT_NE(srv.Log().find("SIGTERM: stopping"), std::string::npos) << srv.Log();
}

// `systemctl status` shows what it serves, updated once a version loads.
TEST_F(SearchdSystemdTest, StatusLineFollowsLoadedIndexes) {
  test::NotifySocket notify(dir_.Sub("notify.sock"));
  SearchdProcess srv(config_path_, dir_.path(), {}, {"NOTIFY_SOCKET=" + notify.path()});
  ASSERT_GT(srv.port(), 0) << srv.Log();
  ASSERT_TRUE(notify.WaitFor("STATUS=serving 0 of 1 indexes")) << notify.all();
  Publish(1);
  // Status updates go out every 2 s when the line changed.
  EXPECT_TRUE(notify.WaitFor("STATUS=serving 1 of 1 indexes", 15000)) << notify.all();
}

// Type=notify-reload: SIGHUP is answered RELOADING=1 with MONOTONIC_USEC,
// then READY=1 once the configuration is applied (or refused).
TEST_F(SearchdSystemdTest, SighupSendsReloadingThenReady) {
  test::NotifySocket notify(dir_.Sub("notify.sock"));
  SearchdProcess srv(config_path_, dir_.path(), {}, {"NOTIFY_SOCKET=" + notify.path()});
  ASSERT_GT(srv.port(), 0) << srv.Log();
  ASSERT_TRUE(notify.WaitFor("READY=1")) << notify.all();
  srv.Signal(SIGHUP);
  ASSERT_TRUE(notify.WaitFor("RELOADING=1\nMONOTONIC_USEC=")) << notify.all();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (notify.Count("READY=1") < 2 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(notify.Count("READY=1"), 2) << notify.all();
  // The reload came after the first READY and before the second.
  const std::string all = notify.all();
  EXPECT_LT(all.find("READY=1"), all.find("RELOADING=1")) << all;
  EXPECT_LT(all.find("RELOADING=1"), all.rfind("READY=1")) << all;
}

// --log-format json: one JSON object per line, as faiss-rebuildd writes.
TEST_F(SearchdSystemdTest, JsonLogLinesAreObjects) {
  SearchdProcess srv(config_path_, dir_.path(), {"--log-format", "json"});
  ASSERT_GT(srv.port(), 0) << srv.Log();
  EXPECT_EQ(srv.Terminate(), 0) << srv.Log();
  std::istringstream lines(srv.Log());
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    auto j = Json::Parse(line);
    ASSERT_TRUE(j.ok()) << line;
    EXPECT_FALSE(j->GetString("time").empty()) << line;
    EXPECT_FALSE(j->GetString("level").empty()) << line;
    EXPECT_FALSE(j->GetString("msg").empty()) << line;
  }
  EXPECT_GE(n, 3) << srv.Log();
}

// On journald's stream ($JOURNAL_STREAM names stderr), text lines start
// with the sd-daemon priority and carry no timestamp of their own.
TEST_F(SearchdSystemdTest, TextLogOnJournaldCarriesPriorities) {
  const std::string log = JoinPath(dir_.path(), "searchd.log");
  test::WriteText(log, "");  // the child's stderr: the same inode, truncated
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  const std::string stream =
      std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  SearchdProcess srv(config_path_, dir_.path(), {}, {"JOURNAL_STREAM=" + stream});
  ASSERT_GT(srv.port(), 0) << srv.Log();
  EXPECT_EQ(srv.Terminate(), 0) << srv.Log();
  const std::string text = srv.Log();
  EXPECT_EQ(text.rfind("<6>info faiss-searchd ", 0), 0u) << text;
  EXPECT_NE(text.find("\n<6>info listening on 127.0.0.1:"), std::string::npos) << text;
}

}  // namespace
}  // namespace searchd_test
}  // namespace frb
