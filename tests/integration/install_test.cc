// Install and packaging: `cmake --install` into a staging root (DESTDIR)
// yields the expected FHS tree with working binaries and units that name
// them; `cpack -G DEB` yields a package whose conffiles, maintainer scripts
// and Depends are right; the man pages render without groff/man warnings and
// cover every command, option, exit code and config key.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "testutil.h"

namespace frb {
namespace {

namespace fs = std::filesystem;

const char* kCmake = "/usr/bin/cmake";
const char* kCpack = "/usr/bin/cpack";
const char* kDpkgDeb = "/usr/bin/dpkg-deb";
const char* kGroff = "/usr/bin/groff";
const char* kMan = "/usr/bin/man";
const char* kShellcheck = "/usr/bin/shellcheck";
const char* kSysusers = "/usr/bin/systemd-sysusers";
const char* kTmpfiles = "/usr/bin/systemd-tmpfiles";
const char* kPkgConfig = "/usr/bin/pkg-config";

bool Exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }
bool Executable(const std::string& p) { return access(p.c_str(), X_OK) == 0; }
std::string Src(const std::string& rel) { return std::string(FRB_SOURCE_DIR) + "/" + rel; }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Where the units go for prefix /usr: the rule of the root CMakeLists.txt
// (systemd's systemdsystemunitdir from pkg-config, else /usr/lib/systemd/system).
std::string ExpectedUnitDir() {
  if (Executable(kPkgConfig)) {
    auto r = test::RunProcess({kPkgConfig, "--variable=systemdsystemunitdir", "systemd"});
    std::string dir = r.out.substr(0, r.out.find('\n'));
    if (r.exit_code == 0 && !dir.empty()) return dir;
  }
  return "/usr/lib/systemd/system";
}

const std::vector<std::string> kBinaries = {"faiss-rebuild", "faiss-rebuildd", "faiss-searchd"};
const std::vector<std::string> kUnits = {"faiss-rebuildd.service", "faiss-searchd.service",
                                         "faiss-rebuild@.service", "faiss-rebuild@.timer"};
const std::vector<std::string> kManPages = {"man1/faiss-rebuild.1", "man5/faiss-rebuild.yaml.5",
                                            "man8/faiss-rebuildd.8", "man8/faiss-searchd.8"};

// Every file the install must produce, as absolute paths for prefix /usr.
std::vector<std::string> ExpectedFiles() {
  std::vector<std::string> files;
  for (const auto& b : kBinaries) files.push_back("/usr/bin/" + b);
  for (const auto& u : kUnits) files.push_back(ExpectedUnitDir() + "/" + u);
  files.push_back("/usr/lib/sysusers.d/faiss-rebuild.conf");
  files.push_back("/usr/lib/tmpfiles.d/faiss-rebuild.conf");
  files.push_back("/etc/faiss-rebuild/config.yaml");
  files.push_back("/usr/share/faiss-rebuild/prometheus/alerts.yml");
  files.push_back("/usr/share/faiss-rebuild/grafana/faiss-rebuild-overview.json");
  files.push_back("/usr/share/faiss-rebuild/grafana/faiss-rebuild-index.json");
  files.push_back("/usr/share/doc/faiss-rebuild/README.md");
  files.push_back("/usr/share/doc/faiss-rebuild/config/example.yaml");
  for (const auto& e : fs::directory_iterator(Src("docs")))
    if (e.path().extension() == ".md")
      files.push_back("/usr/share/doc/faiss-rebuild/docs/" + e.path().filename().string());
  for (const auto& e : fs::directory_iterator(Src("docs/runbooks")))
    if (e.path().extension() == ".md")
      files.push_back("/usr/share/doc/faiss-rebuild/docs/runbooks/" +
                      e.path().filename().string());
  for (const auto& m : kManPages) files.push_back("/usr/share/man/" + m);
  if (test::SharedFaiss()) {  // both libfaiss builds, private to the package
    files.push_back("/usr/lib/faiss-rebuild/libfaiss.so");
    files.push_back("/usr/lib/faiss-rebuild/glibc-hwcaps/x86-64-v3/libfaiss.so");
  }
  return files;
}

// `cmake --install <this build> --prefix /usr` with DESTDIR=root.
test::ProcessResult InstallInto(const std::string& root) {
  return test::RunProcess({kCmake, "--install", FRB_BIN_DIR, "--prefix", "/usr"},
                          {"DESTDIR=" + root}, 300);
}

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Executable(kCmake)) GTEST_SKIP() << "cmake not installed";
  }
};

TEST_F(InstallTest, StagingTreeHasEveryFileAndNothingElse) {
  test::TempDir tmp;
  const std::string root = tmp.Sub("root");
  auto r = InstallInto(root);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  std::set<std::string> expected;
  for (const auto& f : ExpectedFiles()) {
    expected.insert(f);
    EXPECT_TRUE(Exists(root + f)) << "missing from the install tree: " << f;
  }
  // Nothing else: no test tools, benchmarks, static libraries or headers.
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_directory()) continue;
    std::string rel = e.path().string().substr(root.size());
    EXPECT_TRUE(expected.count(rel)) << "unexpected file installed: " << rel;
  }
  // The example config, verbatim, is the installed config.
  EXPECT_EQ(test::ReadText(root + "/etc/faiss-rebuild/config.yaml"),
            test::ReadText(Src("config/example.yaml")));
}

TEST_F(InstallTest, InstalledBinariesRunHelp) {
  test::TempDir tmp;
  const std::string root = tmp.Sub("root");
  auto r = InstallInto(root);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const auto& b : kBinaries) {
    std::string path = root + "/usr/bin/" + b;
    ASSERT_TRUE(Executable(path)) << path;
    auto h = test::RunProcess({path, "--help"}, {}, 60);
    EXPECT_EQ(h.exit_code, 0) << b << ": " << h.err;
    EXPECT_NE(h.out.find(b + ":"), std::string::npos) << b << " --help:\n" << h.out;
    EXPECT_NE(h.out.find("--config"), std::string::npos) << b << " --help:\n" << h.out;
  }
}

// Every Exec*= program of every installed unit is an executable in the tree,
// and every --config argument names the installed config.
TEST_F(InstallTest, UnitsNameInstalledBinariesAndConfig) {
  test::TempDir tmp;
  const std::string root = tmp.Sub("root");
  auto r = InstallInto(root);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::regex exec_line(R"(^(ExecStart|ExecStartPre|ExecReload|ExecStop)=[-@:+!]*(\S+)(.*)$)");
  const std::regex config_arg(R"(--config (\S+))");
  for (const auto& u : kUnits) {
    if (u.find(".service") == std::string::npos) continue;
    std::string unit = root + ExpectedUnitDir() + "/" + u;
    ASSERT_TRUE(Exists(unit)) << unit;
    int ours = 0;
    for (const auto& line : Lines(test::ReadText(unit))) {
      std::smatch m;
      if (!std::regex_match(line, m, exec_line)) continue;
      std::string prog = m[2];
      if (prog.rfind("/usr/bin/faiss-", 0) == 0) {
        ++ours;
        EXPECT_TRUE(Executable(root + prog)) << u << ": " << line << ": not in the tree";
      } else {
        EXPECT_TRUE(Executable(prog)) << u << ": " << line << ": not on this system";
      }
      std::string args = m[3];
      std::smatch c;
      if (std::regex_search(args, c, config_arg)) {
        EXPECT_EQ(c[1].str(), "/etc/faiss-rebuild/config.yaml") << u << ": " << line;
        EXPECT_TRUE(Exists(root + c[1].str())) << u << ": " << line;
      }
    }
    EXPECT_GE(ours, 1) << u << " starts none of the installed binaries";
  }
}

// The sysusers.d and tmpfiles.d files apply cleanly to the staging root: the
// account the units run as and the directories they write to are created.
TEST_F(InstallTest, SysusersAndTmpfilesApplyToStagingRoot) {
  if (!Executable(kSysusers)) GTEST_SKIP() << "systemd-sysusers not installed";
  test::TempDir tmp;
  const std::string root = tmp.Sub("root");
  auto r = InstallInto(root);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto s = test::RunProcess({kSysusers, "--root=" + root});
  ASSERT_EQ(s.exit_code, 0) << s.out << s.err;
  std::string passwd = test::ReadText(root + "/etc/passwd");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(passwd, m,
                                std::regex(R"((^|\n)faiss-rebuild:x:(\d+):(\d+):[^:]*:/var/lib/faiss-rebuild:)")))
      << passwd;
  const unsigned uid = std::stoul(m[2]), gid = std::stoul(m[3]);
  if (geteuid() != 0 || !Executable(kTmpfiles)) {
    std::printf("tmpfiles part skipped (needs root to chown)\n");
    return;
  }
  auto t = test::RunProcess({kTmpfiles, "--root=" + root, "--create", "faiss-rebuild.conf"});
  ASSERT_EQ(t.exit_code, 0) << t.out << t.err;
  for (const char* dir : {"/var/lib/faiss-rebuild", "/var/lib/faiss-rebuild/backups"}) {
    struct stat st {};
    ASSERT_EQ(::stat((root + dir).c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0750u) << dir;
    EXPECT_EQ(st.st_uid, uid) << dir;
    EXPECT_EQ(st.st_gid, gid) << dir;
  }
}

// `cmake --install` over an existing tree keeps an edited config.yaml and
// puts the new example beside it.
TEST_F(InstallTest, ReinstallKeepsEditedConfig) {
  test::TempDir tmp;
  const std::string root = tmp.Sub("root");
  auto r = InstallInto(root);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string config = root + "/etc/faiss-rebuild/config.yaml";
  const std::string edited = "# edited by the operator\ndata_dir: /srv/faiss\n";
  test::WriteText(config, edited);
  r = InstallInto(root);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(test::ReadText(config), edited);
  EXPECT_EQ(test::ReadText(config + ".example"), test::ReadText(Src("config/example.yaml")));
}

// ---- cpack -G DEB -------------------------------------------------------------

// One cpack run (about a minute of stripping and compressing), then every
// check on the package it made.
TEST(InstallDebPackageTest, CpackDebHasConffilesScriptsDependsAndTree) {
  if (!Executable(kCpack)) GTEST_SKIP() << "cpack not installed";
  if (!Executable(kDpkgDeb)) GTEST_SKIP() << "dpkg-deb not installed (apt-get install dpkg)";
  test::TempDir tmp;
  auto built = test::RunProcess({kCpack, "-G", "DEB", "--config",
                                 std::string(FRB_BIN_DIR) + "/CPackConfig.cmake", "-B",
                                 tmp.Sub("out")},
                                {}, 600);
  ASSERT_EQ(built.exit_code, 0) << built.out << built.err;
  std::string deb;
  for (const auto& e : fs::directory_iterator(tmp.Sub("out")))
    if (e.path().extension() == ".deb") deb = e.path().string();
  ASSERT_FALSE(deb.empty()) << "cpack made no .deb:\n" << built.out << built.err;
  auto field = [&](const std::string& name) {
    auto r = test::RunProcess({kDpkgDeb, "-f", deb, name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find_last_not_of('\n') + 1);
  };

  {
    SCOPED_TRACE("control fields");
    EXPECT_EQ(field("Package"), "faiss-rebuild");
    EXPECT_EQ(field("Architecture"), "amd64");
    EXPECT_FALSE(field("Version").empty());
    EXPECT_FALSE(field("Maintainer").empty());
    std::string depends = field("Depends");
    EXPECT_FALSE(depends.empty());
    // Computed by dpkg-shlibdeps from the binaries, not only listed by hand
    // (FAISS's BLAS and LAPACK are shared libraries in every build).
    for (const char* lib : {"libblas", "liblapack", "libc6", "libzstd1", "libsystemd0", "libyaml-cpp",
                            "libssl3", "libcctz2"})
      EXPECT_NE(depends.find(lib), std::string::npos) << lib << " not in Depends: " << depends;
    // The shared libfaiss the package carries runs OpenMP (libgomp1).
    if (test::SharedFaiss()) {
      EXPECT_NE(depends.find("libgomp1"), std::string::npos) << "Depends: " << depends;
    }
  }
  if (test::SharedFaiss()) {
    SCOPED_TRACE("extracted package: the programs find their own libfaiss");
    const std::string root = tmp.Sub("x");
    auto x = test::RunProcess({kDpkgDeb, "-x", deb, root});
    ASSERT_EQ(x.exit_code, 0) << x.err;
    const bool avx2 = __builtin_cpu_supports("avx2");
    for (const auto& b : kBinaries) {
      auto v = test::RunProcess({root + "/usr/bin/" + b, "--version"}, {}, 60);
      EXPECT_EQ(v.exit_code, 0) << b << ": " << v.err;
      EXPECT_NE(v.out.find(std::string("\nFAISS kernels: ") + (avx2 ? "avx2" : "generic")),
                std::string::npos)
          << b << ": " << v.out;
      auto g = test::RunProcess({root + "/usr/bin/" + b, "--version"},
                                {"GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2"}, 60);
      EXPECT_NE(g.out.find("\nFAISS kernels: generic"), std::string::npos) << b << ": " << g.out;
    }
  }

  auto list = test::RunProcess({kDpkgDeb, "-c", deb});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  {
    SCOPED_TRACE("conffiles");
    auto info = test::RunProcess({kDpkgDeb, "-I", deb, "conffiles"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    std::vector<std::string> conffiles = Lines(info.out);
    EXPECT_EQ(conffiles, std::vector<std::string>{"/etc/faiss-rebuild/config.yaml"});
    for (const auto& c : conffiles)
      EXPECT_NE(list.out.find(" ." + c + "\n"), std::string::npos) << c << " not in the data";
  }
  {
    SCOPED_TRACE("contents: the same files as the install tree");
    std::set<std::string> files;
    const std::regex entry(R"(^(\S+)\s+\S+\s+\d+\s+\S+\s+\S+\s+\.(/\S*)$)");
    for (const auto& line : Lines(list.out)) {
      std::smatch m;
      if (!std::regex_match(line, m, entry) || m[1].str()[0] == 'd') continue;
      files.insert(m[2]);
      if (m[2].str().rfind("/usr/bin/", 0) == 0) {
        EXPECT_EQ(m[1].str(), "-rwxr-xr-x") << line;
      }
    }
    std::set<std::string> expected;
    for (const auto& f : ExpectedFiles()) expected.insert(f);
    EXPECT_EQ(files, expected);
  }
  {
    SCOPED_TRACE("maintainer scripts");
    const std::string dir = tmp.Sub("DEBIAN");
    auto e = test::RunProcess({kDpkgDeb, "-e", deb, dir});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    for (const char* script : {"postinst", "prerm", "postrm"}) {
      std::string path = dir + "/" + script;
      ASSERT_TRUE(Executable(path)) << script << " missing or not executable";
      EXPECT_EQ(test::ReadText(path).rfind("#!/bin/sh\n", 0), 0u) << script;
      auto n = test::RunProcess({"/bin/sh", "-n", path});
      EXPECT_EQ(n.exit_code, 0) << script << ": " << n.err;
      EXPECT_EQ(n.err, "") << script;
      if (Executable(kShellcheck)) {
        auto sc = test::RunProcess({kShellcheck, "-s", "sh", path});
        EXPECT_EQ(sc.exit_code, 0) << script << ":\n" << sc.out << sc.err;
      } else {
        std::printf("shellcheck not installed: %s only checked with sh -n\n", script);
      }
    }
    // postinst creates the account and directories from our own confs and
    // never starts, enables or restarts a unit by itself.
    std::string postinst = test::ReadText(dir + "/postinst");
    EXPECT_NE(postinst.find("systemd-sysusers faiss-rebuild.conf"), std::string::npos);
    EXPECT_NE(postinst.find("systemd-tmpfiles --create faiss-rebuild.conf"), std::string::npos);
    EXPECT_NE(postinst.find("[ -d /run/systemd/system ]"), std::string::npos);
    const std::regex starts(
        R"(^\s*(systemctl|deb-systemd-invoke)\s+(--?\S+\s+)*(start|enable|restart|try-restart|reload-or-restart)\b.*)");
    for (const auto& line : Lines(postinst))
      EXPECT_FALSE(std::regex_match(line, starts)) << "postinst: " << line;
  }
}

// ---- man pages ------------------------------------------------------------------

std::string ManSource(const std::string& page) {
  return Src("docs/man/" + page.substr(page.find('/') + 1));
}

// groff's and man's warnings for one page file (empty when clean).
std::string ManWarnings(const std::string& file) {
  std::string out;
  auto g = test::RunProcess({kGroff, "-man", "-ww", "-z", file});
  if (g.exit_code != 0 || !g.err.empty())
    out += "groff (exit " + std::to_string(g.exit_code) + "): " + g.err;
  if (Executable(kMan)) {
    auto m = test::RunProcess({kMan, "--warnings", "-l", file}, {"MANWIDTH=80", "MANPAGER=cat",
                                                                  "PAGER=cat"});
    if (m.exit_code != 0 || !m.err.empty())
      out += "man (exit " + std::to_string(m.exit_code) + "): " + m.err;
  }
  return out;
}

class ManPageTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!Executable(kGroff)) GTEST_SKIP() << "groff not installed (apt-get install groff)";
  }
};

TEST_P(ManPageTest, RendersWithoutWarnings) {
  std::string file = ManSource(GetParam());
  ASSERT_TRUE(Exists(file)) << file;
  EXPECT_EQ(ManWarnings(file), "") << file;
}

INSTANTIATE_TEST_SUITE_P(Pages, ManPageTest, ::testing::ValuesIn(kManPages),
                         [](const auto& tp) {
                           std::string n = tp.param.substr(tp.param.find('/') + 1);
                           std::replace_if(n.begin(), n.end(),
                                           [](char c) { return !std::isalnum(c); }, '_');
                           return n;
                         });

// The check above can fail: a page with a broken request is reported.
TEST(ManPageCheck, ReportsABrokenPage) {
  if (!Executable(kGroff)) GTEST_SKIP() << "groff not installed";
  test::TempDir tmp;
  std::string file = tmp.Sub("broken.1");
  test::WriteText(file, ".TH BROKEN 1\n.SH NAME\nbroken \\- a test\n.SH DESCRIPTION\n"
                        ".XYZZY not a macro\n\\*[nosuchstring] text\n");
  EXPECT_NE(ManWarnings(file), "");
}

// Man page text with roff escapes for '-' and quotes undone.
std::string ManText(const std::string& page) {
  std::string t = test::ReadText(ManSource(page));
  t = std::regex_replace(t, std::regex(R"(\\-)"), "-");
  t = std::regex_replace(t, std::regex(R"(\\\(dq)"), "\"");
  return t;
}

// Long options in a program's --help (CLI11 format), minus --help itself.
std::set<std::string> HelpOptions(const std::string& help) {
  std::set<std::string> opts;
  const std::regex opt(R"(--[a-z][a-z0-9-]*)");
  for (auto it = std::sregex_iterator(help.begin(), help.end(), opt);
       it != std::sregex_iterator(); ++it)
    opts.insert(it->str());
  opts.erase("--help");
  return opts;
}

TEST(ManPageContent, CliPageHasEveryCommandOptionAndExitCode) {
  std::string page = ManText("man1/faiss-rebuild.1");
  auto help = test::RunProcess({test::BinPath("cli/faiss-rebuild"), "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  // CLI11 lists subcommands under "Subcommands:" as "  name   description".
  size_t at = help.out.find("Subcommands:");
  ASSERT_NE(at, std::string::npos) << help.out;
  int commands = 0;
  for (const auto& line : Lines(help.out.substr(at))) {
    std::smatch m;
    if (!std::regex_match(line, m, std::regex(R"(^  ([a-z]+)\s+\S.*$)"))) continue;
    ++commands;
    EXPECT_TRUE(std::regex_search(page, std::regex("\\.TP\n\\.B[IR]? \"?" + m[1].str() + "\\b")))
        << "command " << m[1] << " has no entry";
  }
  EXPECT_GE(commands, 10) << help.out;
  for (const auto& sub : {std::vector<std::string>{"backup", "list", "create", "verify", "prune"},
                          {"config", "validate", "generate"},
                          {"jobs", "show"},
                          {"schedule", "next"}}) {
    for (size_t i = 1; i < sub.size(); ++i)
      EXPECT_NE(page.find(sub[0] + " " + sub[i]), std::string::npos) << sub[0] << " " << sub[i];
  }
  for (const auto& o : HelpOptions(help.out))
    EXPECT_NE(page.find(o), std::string::npos) << "option " << o << " not documented";
  for (const char* o : {"--wait", "--dry-run", "--tz", "--from", "--count"})
    EXPECT_NE(page.find(o), std::string::npos) << o;
  // Every exit code of cli/cli.h, in the EXIT STATUS section.
  std::string header = test::ReadText(Src("cli/cli.h"));
  size_t exit_at = page.find(".SH EXIT STATUS");
  ASSERT_NE(exit_at, std::string::npos);
  std::string exits = page.substr(exit_at, page.find(".SH", exit_at + 1) - exit_at);
  int codes = 0;
  const std::regex code(R"(kExit\w+ = (\d+),)");
  for (auto it = std::sregex_iterator(header.begin(), header.end(), code);
       it != std::sregex_iterator(); ++it, ++codes)
    EXPECT_NE(exits.find(".TP\n.B " + (*it)[1].str() + "\n"), std::string::npos)
        << "exit code " << (*it)[1] << " not documented";
  EXPECT_EQ(codes, 8);
}

TEST(ManPageContent, ServerPagesHaveEveryOption) {
  for (const auto& [bin, page] :
       std::vector<std::pair<std::string, std::string>>{
           {"daemon/rebuildd/faiss-rebuildd", "man8/faiss-rebuildd.8"},
           {"daemon/searchd/faiss-searchd", "man8/faiss-searchd.8"}}) {
    auto help = test::RunProcess({test::BinPath(bin), "--help"});
    ASSERT_EQ(help.exit_code, 0) << help.err;
    std::set<std::string> opts = HelpOptions(help.out);
    EXPECT_GE(opts.size(), 3u) << help.out;
    std::string text = ManText(page);
    for (const auto& o : opts) EXPECT_NE(text.find(o), std::string::npos) << page << ": " << o;
  }
}

// Every key in docs/configuration.md's tables is in faiss-rebuild.yaml(5).
TEST(ManPageContent, ConfigPageHasEveryKey) {
  std::string page = ManText("man5/faiss-rebuild.yaml.5");
  std::string doc = test::ReadText(Src("docs/configuration.md"));
  int keys = 0;
  const std::regex row(R"(^\| (`[^|]+`) \|)");
  const std::regex key("`([a-z_.]+)`");
  for (const auto& line : Lines(doc)) {
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    std::string cell = m[1];
    for (auto it = std::sregex_iterator(cell.begin(), cell.end(), key);
         it != std::sregex_iterator(); ++it, ++keys)
      EXPECT_NE(page.find((*it)[1].str()), std::string::npos)
          << "key " << (*it)[1] << " missing from faiss-rebuild.yaml.5";
  }
  EXPECT_GE(keys, 35);
}

}  // namespace
}  // namespace frb
