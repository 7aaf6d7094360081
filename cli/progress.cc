#include "progress.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <string>

#include "cli.h"

namespace frb::cli {
namespace {

JobControl* g_control = nullptr;
extern "C" void OnSignal(int) {
  if (g_control != nullptr) g_control->Cancel();
}

}  // namespace

LocalJob::LocalJob(const GlobalOptions& g, const std::string& title)
    : tty_(StderrIsTty() && !g.json) {
  if (tty_) {
    control_.SetListener([this](const JobSnapshot& s) { printer_.Update(s); });
    std::fprintf(stderr, "%s\n", title.c_str());
  }
  g_control = &control_;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
}

LocalJob::~LocalJob() { Finish(); }

void LocalJob::Finish() {
  if (finished_) return;
  finished_ = true;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  g_control = nullptr;
  if (!tty_) return;
  control_.SetListener(nullptr);
  printer_.Finish(control_.Snapshot());
}

void ProgressPrinter::Update(const JobSnapshot& s) {
  if (s.stages.empty()) return;
  size_t n = s.stages.size();
  // Close the lines of stages that ended since the last update.
  while (printed_ + 1 < n) {
    const auto& r = s.stages[printed_];
    std::fprintf(stderr, "\r  %-16s done  %8s\033[K\n", std::string(StageName(r.stage)).c_str(),
                 HumanDuration(r.seconds).c_str());
    ++printed_;
  }
  if (IsTerminal(s.stage)) return;
  std::fprintf(stderr, "\r  %s\033[K", FormatProgressLine(s).c_str());
  std::fflush(stderr);
}

std::string FormatRate(double rate, const std::string& unit) {
  if (!(rate > 0) || unit.empty()) return "";
  char buf[64];
  if (unit == "bytes/s") {
    std::snprintf(buf, sizeof(buf), "%.1f MB/s", rate / 1e6);
  } else if (unit == "%/s") {
    std::snprintf(buf, sizeof(buf), "%.1f %%/s", rate);
  } else {
    const char* scale = "";
    if (rate >= 1e6) {
      rate /= 1e6;
      scale = "M";
    } else if (rate >= 1e3) {
      rate /= 1e3;
      scale = "k";
    }
    std::snprintf(buf, sizeof(buf), "%.1f%s %s", rate, scale, unit.c_str());
  }
  return buf;
}

std::string FormatProgressLine(const JobSnapshot& s) {
  double progress = std::clamp(s.progress, 0.0, 1.0);  // remote input too
  int filled = static_cast<int>(progress * 30);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(30 - filled), '.');
  std::string eta = s.eta_seconds >= 0 ? "ETA " + HumanDuration(s.eta_seconds) : "ETA ?";
  double seconds = s.stages.empty() ? 0 : s.stages.back().seconds;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-16s [%s] %3.0f%%  %-18s %-11s %8s",
                std::string(StageName(s.stage)).c_str(), bar.c_str(), 100 * progress,
                FormatRate(s.rate, s.rate_unit).c_str(), eta.c_str(),
                HumanDuration(seconds).c_str());
  return buf;
}

void ProgressPrinter::Finish(const JobSnapshot& s) {
  for (; printed_ < s.stages.size(); ++printed_) {
    const auto& r = s.stages[printed_];
    std::fprintf(stderr, "\r  %-16s %-5s %8s\033[K\n", std::string(StageName(r.stage)).c_str(),
                 printed_ + 1 == s.stages.size() && s.stage != Stage::kDone &&
                         s.stage != Stage::kSkipped
                     ? "FAIL"
                     : "done",
                 HumanDuration(r.seconds).c_str());
  }
}

}  // namespace frb::cli
