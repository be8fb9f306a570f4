// A child process with piped stdin/stdout, for the js-libp2p interop tests. stdout is read
// without blocking so the test can keep running its io_context while the child works.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace aethel::p2p::testing {

class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& working_directory) {
    int to_child[2];
    int from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], STDIN_FILENO);
      ::dup2(from_child[1], STDOUT_FILENO);
      ::close(to_child[1]);
      ::close(from_child[0]);
      if (::chdir(working_directory.c_str()) != 0) ::_exit(126);
      std::vector<char*> args;
      for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_fd_ = to_child[1];
    stdout_fd_ = from_child[0];
    ::fcntl(stdout_fd_, F_SETFL, ::fcntl(stdout_fd_, F_GETFL) | O_NONBLOCK);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    close_stdin();
    if (pid_ > 0 && !exit_code_) {
      // Closing stdin asks the peer to stop; give it a moment, then insist.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!exited() && std::chrono::steady_clock::now() < deadline) {
        ::poll(nullptr, 0, 20);
      }
      if (!exited()) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
  }

  bool started() const { return pid_ > 0; }
  // Writes one line to the child's stdin.
  bool write_line(const std::string& line) {
    const std::string data = line + "\n";
    return stdin_fd_ >= 0 &&
           ::write(stdin_fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  }
  void close_stdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
  }

  // Reads whatever stdout has and returns the complete lines received so far.
  const std::vector<std::string>& lines() {
    char buffer[4096];
    while (stdout_fd_ >= 0) {
      const auto n = ::read(stdout_fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      partial_.append(buffer, static_cast<std::size_t>(n));
    }
    for (auto newline = partial_.find('\n'); newline != std::string::npos;
         newline = partial_.find('\n')) {
      lines_.push_back(partial_.substr(0, newline));
      partial_.erase(0, newline + 1);
    }
    return lines_;
  }

  bool exited() {
    if (exit_code_) return true;
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_.has_value();
  }
  std::optional<int> exit_code() const { return exit_code_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
  std::optional<int> exit_code_;
};

}  // namespace aethel::p2p::testing
