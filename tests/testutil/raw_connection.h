// The tests' one raw HTTP sender: a TCP connection that puts exactly the
// given bytes on the wire and hands back exactly the bytes the server sent.
// For requests no well-behaved client would send (slow heads, oversized or
// endless heads, bodies beyond a cap, too many connections); every ordinary
// request goes through http_client.h instead.
#pragma once

#include <string>
#include <string_view>

namespace frb::test {

// Not thread-safe: one connection, one thread at a time. Movable.
class RawConnection {
 public:
  // Connects to `host`:`port` (an IPv4 or IPv6 literal); ok() tells whether
  // it did.
  explicit RawConnection(int port, const std::string& host = "127.0.0.1");
  // Takes ownership of a connected socket, e.g. one accept(2) returned.
  static RawConnection Adopt(int fd);
  ~RawConnection() { Close(); }
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  // The socket, for poll(2) and recv(2) in a relay; -1 when closed.
  int fd() const { return fd_; }
  // Sends all of `bytes`; false when the peer went away (or never came).
  bool Send(std::string_view bytes);
  // What the server sent until it closed, `ms` milliseconds passed or, when
  // `until` is not empty, `until` arrived.
  std::string Read(int ms, std::string_view until = {});
  // Closes with a RST (SO_LINGER 0): the peer sees a cut, not a clean end.
  void Reset();
  void Close();

 private:
  RawConnection() = default;
  int fd_ = -1;
};

// The status code of a raw HTTP/1.x response, 0 when it has no status line.
int StatusOf(std::string_view response);

}  // namespace frb::test
