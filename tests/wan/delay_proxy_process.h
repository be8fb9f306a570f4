// aethel_delay_proxy (tools/delay_proxy) as a child process of a test: started with
// --link values, ready once every link listens, its per-link counters readable.
// Used by delay_proxy_test.cpp and by the WAN lattice (wan_fixture.h).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace aethel::test {

// --- the proxy --------------------------------------------------------------------

struct ProxyLinkStats {
  uint64_t connections = 0;
  uint64_t bytes_forward = 0;  // listening side → target
  uint64_t bytes_back = 0;
};

// aethel_delay_proxy as a child process (AETHEL_DELAY_PROXY_BINARY). `links` are
// --link values; the constructor returns once every link listens.
class DelayProxy {
 public:
  DelayProxy(const std::filesystem::path& dir, int64_t delay_ms,
             const std::vector<std::string>& links, std::vector<std::string> extra_args = {})
      : stats_file_(dir / "proxy.stats"), errors_file_(dir / "proxy.err") {
    std::vector<std::string> args = {AETHEL_DELAY_PROXY_BINARY, "--delay-ms",
                                     std::to_string(delay_ms), "--stats-file",
                                     stats_file_.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    for (const std::string& link : links) {
      args.push_back("--link");
      args.push_back(link);
    }
    spawn(args, errors_file_);
  }
  ~DelayProxy() { stop(); }
  // SIGTERM and wait: the exit status (0 for a clean stop).
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  DelayProxy(const DelayProxy&) = delete;
  DelayProxy& operator=(const DelayProxy&) = delete;

  void send_signal(int signal) { ::kill(pid_, signal); }
  // What the proxy wrote on stderr so far.
  std::string errors() const {
    std::ifstream file(errors_file_);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }

  // The port a link listens on (what the proxy printed for it).
  uint16_t port(const std::string& name) const { return ports_.at(name); }
  // Per link, as of the proxy's last write of its stats file (every second).
  std::map<std::string, ProxyLinkStats> stats() const {
    std::map<std::string, ProxyLinkStats> out;
    std::ifstream file(stats_file_);
    std::string line;
    while (std::getline(file, line)) {
      std::istringstream words(line);
      std::string name, word;
      words >> name;
      ProxyLinkStats& s = out[name];
      while (words >> word) {
        auto value = [&] { return std::stoull(word.substr(word.find('=') + 1)); };
        if (word.starts_with("connections=")) s.connections = value();
        if (word.starts_with("bytes_forward=")) s.bytes_forward = value();
        if (word.starts_with("bytes_back=")) s.bytes_back = value();
      }
    }
    return out;
  }

 private:
  void spawn(std::vector<std::string>& args, const std::filesystem::path& errors) {
    int out[2];
    ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives a crashed test
      dup2(out[1], 1);
      int err = ::open(errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      dup2(err, 2);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    ::close(out[1]);
    read_ready(out[0], errors);
    ::close(out[0]);
  }

  // Reads "link NAME HOST:PORT -> ..." lines until "ready" (10 s at most).
  void read_ready(int fd, const std::filesystem::path& errors) {
    std::string text;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (text.find("ready\n") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buffer[4096];
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;  // the proxy exited: its stderr says why
      text.append(buffer, static_cast<size_t>(n));
    }
    std::ifstream error_file(errors);
    std::string error_text(std::istreambuf_iterator<char>(error_file), {});
    ASSERT_NE(text.find("ready\n"), std::string::npos) << "the proxy did not start: " << error_text;
    std::istringstream lines(text);
    std::string word, name, listen;
    while (lines >> word) {
      if (word != "link" || !(lines >> name >> listen)) continue;
      ports_[name] = static_cast<uint16_t>(std::stoul(listen.substr(listen.rfind(':') + 1)));
    }
  }

  std::filesystem::path stats_file_;
  std::filesystem::path errors_file_;
  std::map<std::string, uint16_t> ports_;
  pid_t pid_ = -1;
};

}  // namespace aethel::test
