// The httplib::Stream a worker runs one request over: it replays the bytes
// the connection loop already buffered (the head, maybe some body), then
// reads the socket until the request's deadline, never more body bytes
// than the request may carry. Private to daemon/common.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace frb::http {

using Clock = std::chrono::steady_clock;

// What went wrong while a request was read; the server's error handler
// turns it into the status code (413, 408) httplib cannot know.
struct StreamState {
  bool body_too_large = false;
  bool timed_out = false;
};

// The state of the request the calling worker thread serves, or nullptr
// outside a request.
StreamState* CurrentStreamState();

// Thread safety: one worker at a time. Does not own the socket.
class ConnStream : public httplib::Stream {
 public:
  // `buffered` starts with the head (`head_len` bytes). At most
  // `body_limit` bytes after the head are handed out; past that a read is
  // the end of the body, or an error with body_too_large when
  // `limit_is_cap` (a chunked body may not exceed it).
  ConnStream(int fd, std::string buffered, size_t head_len, uint64_t body_limit,
             bool limit_is_cap, Clock::time_point deadline, std::chrono::milliseconds write_timeout);
  ~ConnStream() override;

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return fd_; }

  uint64_t body_read() const { return body_read_; }
  bool failed() const { return failed_; }
  // Bytes received beyond what the request consumed (a pipelined next
  // request); moves them out.
  std::string TakeLeftover();

 private:
  bool Fill();  // reads more from the socket into buf_; false on EOF/error/deadline
  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  size_t head_left_;
  uint64_t body_limit_;
  bool limit_is_cap_;
  uint64_t body_read_ = 0;
  Clock::time_point deadline_;
  std::chrono::milliseconds write_timeout_;
  bool failed_ = false;
  StreamState state_;
  StreamState* previous_;
};

}  // namespace frb::http
