#include "logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <string>

namespace frb::service {
namespace {

// %* = the message as a JSON string body: spdlog's %v does no escaping.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            dest.append(std::string_view(buf));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// %^ is taken by spdlog (colour); %# is the sd-daemon(3) priority digit.
class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    // <3> err, <4> warning, <6> info, <7> debug.
    char p = '6';
    switch (msg.level) {
      case spdlog::level::critical: p = '2'; break;
      case spdlog::level::err: p = '3'; break;
      case spdlog::level::warn: p = '4'; break;
      case spdlog::level::info: p = '6'; break;
      default: p = '7'; break;
    }
    dest.push_back('<');
    dest.push_back(p);
    dest.push_back('>');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

}  // namespace

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

Status SetupLogging(const LogOptions& options) {
  const spdlog::level::level_enum level = spdlog::level::from_str(options.level);
  // from_str answers "off" for anything it does not know.
  if (level == spdlog::level::off && options.level != "off") {
    return InvalidArgument("--log-level must be trace, debug, info, warn, error, critical "
                           "or off, got '" + options.level + "'");
  }
  if (options.format != "text" && options.format != "json") {
    return InvalidArgument("--log-format must be text or json, got '" + options.format + "'");
  }
  spdlog::sink_ptr sink;
  if (options.file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // Outside systemd (no journald): 5 files of 64 MiB, rotated by size.
    try {
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(options.file, 64 << 20, 5);
    } catch (const std::exception& e) {
      return InvalidArgument("--log-file " + options.file + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>(options.program, std::move(sink));
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (options.format == "json") {
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
  } else if (options.file.empty() && StderrIsJournal()) {
    formatter->add_flag<SyslogPriorityFlag>('#').set_pattern("%#%l %v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

}  // namespace frb::service
