#include "fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "raw_connection.h"

namespace frb::test {
namespace {

uint64_t ContentLength(const std::string& head) {
  std::string lower;
  for (char c : head) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  size_t p = lower.find("\r\ncontent-length:");
  if (p == std::string::npos) return 0;
  return std::strtoull(lower.c_str() + p + 17, nullptr, 10);
}

std::string ErrorResponse(int status) {
  std::string code = status == 503 ? "SlowDown" : "InternalError";
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code +
                     "</Code><Message>injected by FaultProxy</Message></Error>";
  return "HTTP/1.1 " + std::to_string(status) +
         (status == 503 ? " Slow Down" : " Internal Server Error") +
         "\r\nContent-Type: application/xml\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

std::string StripIfHeaders(const std::string& head) {
  std::string out;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    end = end == std::string::npos ? head.size() : end + 2;
    std::string line = head.substr(pos, end - pos);
    std::string lower = line;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!lower.starts_with("if-match:") && !lower.starts_with("if-none-match:")) out += line;
    pos = end;
  }
  return out;
}

}  // namespace

FaultProxy::FaultProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listen_fd_, 64);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  // Joined outside mu_: a connection thread may be waiting for it.
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void FaultProxy::CutAfter(uint64_t bytes, int connections, bool upstream) {
  std::lock_guard<std::mutex> lock(mu_);
  cut_bytes_ = bytes;
  cut_conns_ = connections;
  cut_upstream_ = upstream;
}

void FaultProxy::FailNext(int k, int status, int skip) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_k_ = k;
  fail_skip_ = skip;
  fail_status_ = status;
}

void FaultProxy::Accept() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

int FaultProxy::status_for_injection() {
  std::lock_guard<std::mutex> lock(mu_);
  return fail_status_;
}

void FaultProxy::Serve(int client_fd) {
  RawConnection client = RawConnection::Adopt(client_fd);
  RawConnection server(target_port_);
  if (!server.ok()) return;
  // Requests are parsed on the client->server stream only to decide
  // whether to answer one with an injected error; keep-alive is honoured.
  std::string head;
  uint64_t body_left = 0;
  bool in_body = false;
  bool injecting = false;
  uint64_t moved[2] = {0, 0};  // [0] up, [1] down
  char buf[65536];
  pollfd fds[2] = {{client.fd(), POLLIN, 0}, {server.fd(), POLLIN, 0}};
  while (!stop_) {
    int n = ::poll(fds, 2, 100);
    if (n <= 0) continue;
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::recv(fds[i].fd, buf, sizeof(buf), 0);
      if (got <= 0) {
        done = true;
        break;
      }
      size_t g = static_cast<size_t>(got);
      bool up = i == 0;
      uint64_t cut_at = 0;
      {
        // A cut is spent by the first connections that reach the threshold.
        std::lock_guard<std::mutex> lock(mu_);
        if (cut_conns_ > 0 && up == cut_upstream_ && moved[up ? 0 : 1] + g >= cut_bytes_) {
          --cut_conns_;
          cut_at = std::max<uint64_t>(cut_bytes_, moved[up ? 0 : 1]);
        }
      }
      if (cut_at > 0) {
        size_t part = static_cast<size_t>(cut_at - moved[up ? 0 : 1]);
        (up ? server : client).Send(std::string_view(buf, part));
        ++cuts_;
        client.Reset();
        server.Reset();
        return;
      }
      if (up) {
        up_ += g;
        // Track request boundaries (head, then Content-Length bytes) to
        // swallow the requests chosen for an injected error.
        std::string_view data(buf, g);
        std::string forward;
        bool answered = false;
        while (!answered) {
          if (in_body) {
            size_t take = static_cast<size_t>(std::min<uint64_t>(body_left, data.size()));
            if (!injecting) forward.append(data.substr(0, take));
            data.remove_prefix(take);
            body_left -= take;
            if (body_left > 0) break;
            in_body = false;
            if (injecting) {
              client.Send(ErrorResponse(status_for_injection()));
              ++injected_;
              answered = true;
            }
            continue;
          }
          if (data.empty()) break;
          size_t before = head.size();
          head.append(data);
          size_t end = head.find("\r\n\r\n");
          if (end == std::string::npos) break;
          std::string this_head = head.substr(0, end + 4);
          data.remove_prefix(end + 4 - before);
          head.clear();
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (fail_skip_ > 0) {
              --fail_skip_;
              injecting = false;
            } else {
              injecting = fail_k_ > 0;
              if (injecting) --fail_k_;
            }
          }
          std::string lower = this_head;
          for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (!injecting) forward.append(strip_conditions_ ? StripIfHeaders(this_head) : this_head);
          else if (lower.find("100-continue") != std::string::npos)
            client.Send("HTTP/1.1 100 Continue\r\n\r\n");
          body_left = ContentLength(this_head);
          in_body = true;
        }
        if (answered) {
          if (!forward.empty()) server.Send(forward);
          return;
        }
        if (!forward.empty() && !server.Send(forward)) done = true;
        moved[0] += g;
      } else {
        if (!client.Send(std::string_view(buf, g))) done = true;
        moved[1] += g;
      }
    }
    if (done) break;
  }
}

}  // namespace frb::test
