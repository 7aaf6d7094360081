#include "frb/status.h"

#include <cerrno>
#include <cstring>

namespace frb {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kCorruption: return "corruption";
    case Code::kIOError: return "io_error";
    case Code::kNoSpace: return "no_space";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kBusy: return "busy";
    case Code::kValidationFailed: return "validation_failed";
    case Code::kCancelled: return "cancelled";
    case Code::kTimedOut: return "timed_out";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
Status ValidationFailed(std::string m) { return {Code::kValidationFailed, std::move(m)}; }
Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
Status TimedOut(std::string m) { return {Code::kTimedOut, std::move(m)}; }
Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

Status ErrnoStatus(int err, std::string_view op, std::string_view what) {
  std::string msg = std::string(what) + ": " + std::string(op) + ": " +
                    std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
      return {Code::kNoSpace, msg};
    case ENOENT:
      return {Code::kNotFound, msg};
    case EEXIST:
      return {Code::kAlreadyExists, msg};
    case EACCES:
    case EPERM:
    case EROFS:
      return {Code::kPermissionDenied, msg};
    case EWOULDBLOCK:
      return {Code::kBusy, msg};
    default:
      return {Code::kIOError, msg};
  }
}

}  // namespace frb
