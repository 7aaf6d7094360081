// faiss-rebuildd --log-file: structured logs go to the file (not stderr),
// one JSON object per line, and SIGTERM still exits 0.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "frb/json.h"
#include "testutil.h"

namespace frb {
namespace {

TEST(RebuilddLogFileTest, JsonLinesToRotatingFile) {
  test::TempDir dir;
  std::string src = dir.Sub("v.npy");
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), src, 2000, 8, 1).ok());
  std::string config = dir.Sub("config.yaml");
  test::WriteText(config, "data_dir: " + dir.Sub("data") +
                              "\nindexes:\n  - name: a\n    source: { path: " + src +
                              " }\n    dimension: 8\n    factory: Flat\n");
  std::string log = dir.Sub("rebuildd.log");
  std::string err = dir.Sub("stderr.txt");
  std::string bin = test::BinPath("daemon/rebuildd/faiss-rebuildd");
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen(err.c_str(), "w", stderr);
    (void)f;
    ::execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), "--listen", "127.0.0.1:0",
            "--log-format", "json", "--log-file", log.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string text;
  for (int i = 0; i < 200 && text.find("listening on") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    text = test::ReadText(log);
  }
  ASSERT_NE(text.find("listening on"), std::string::npos) << text << test::ReadText(err);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(test::ReadText(err).find("listening on"), std::string::npos);
  std::istringstream lines(test::ReadText(log));
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    auto j = Json::Parse(line);
    ASSERT_TRUE(j.ok()) << line;
    EXPECT_FALSE(j->GetString("msg").empty()) << line;
  }
  EXPECT_GE(n, 2);
}

}  // namespace
}  // namespace frb
