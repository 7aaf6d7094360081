// Status and Result<T>: expected failures are values, not exceptions.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace frb {

enum class Code {
  kOk = 0,
  kInvalidArgument,   // bad input: config, source file, request
  kNotFound,
  kAlreadyExists,
  kCorruption,        // checksum mismatch, truncated or malformed file
  kIOError,           // EIO and other OS errors
  kNoSpace,           // ENOSPC, EFBIG, EDQUOT
  kPermissionDenied,
  kBusy,              // lock held by another job or process
  kValidationFailed,  // a gate of the validator rejected the candidate
  kCancelled,
  kTimedOut,
  kFailedPrecondition,
  kInternal,
};

// Stable lowercase name of a code, e.g. "no_space"; used in JSON and metrics.
std::string_view CodeName(Code code);

// Thread safety: immutable value type, safe to copy across threads.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "code_name: message", or "ok".
  std::string ToString() const;
  // Returns a copy with "context: " prepended to the message.
  Status WithContext(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

Status InvalidArgument(std::string msg);
Status NotFound(std::string msg);
Status Corruption(std::string msg);
Status IOError(std::string msg);
Status NoSpace(std::string msg);
Status Busy(std::string msg);
Status ValidationFailed(std::string msg);
Status Cancelled(std::string msg);
Status TimedOut(std::string msg);
Status FailedPrecondition(std::string msg);
Status Internal(std::string msg);
// Maps an errno value to a Status whose message names `what` (usually a path).
Status ErrnoStatus(int err, std::string_view op, std::string_view what);

// Either a value or a non-ok Status.
// Thread safety: like the contained T.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace frb

#define FRB_CONCAT_INNER(a, b) a##b
#define FRB_CONCAT(a, b) FRB_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is not ok.
#define FRB_RETURN_IF_ERROR(expr)                   \
  do {                                              \
    ::frb::Status frb_status_ = (expr);             \
    if (!frb_status_.ok()) return frb_status_;      \
  } while (0)

#define FRB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

// `FRB_ASSIGN_OR_RETURN(auto x, MakeX());`
#define FRB_ASSIGN_OR_RETURN(lhs, expr) \
  FRB_ASSIGN_OR_RETURN_IMPL(FRB_CONCAT(frb_result_, __LINE__), lhs, expr)
