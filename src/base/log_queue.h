// Operator log lines written by a thread of their own, so that no caller — the
// consensus thread above all — ever waits for a terminal or a disk while it logs.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/base.h"

namespace aethel::base {

class LogQueue {
 public:
  // Receives lines in the order they were posted, a batch at a time, on the writer
  // thread.
  using Sink = std::function<void(const std::vector<std::string>& lines)>;

  explicit LogQueue(Sink sink, size_t max_queued_lines = 65'536);
  ~LogQueue();  // writes what is queued, then stops
  LogQueue(const LogQueue&) = delete;
  LogQueue& operator=(const LogQueue&) = delete;

  // Never waits for I/O. Beyond max_queued_lines waiting, lines are dropped; the next
  // batch written starts with a line saying how many.
  void post(std::string line);
  // Returns once every line posted before the call has been handed to the sink.
  void flush();
  uint64_t dropped() const;

 private:
  void run();

  Sink sink_;
  const size_t max_queued_lines_;
  mutable Mutex mutex_;
  CondVar wake_;
  CondVar drained_;
  std::deque<std::string> queue_ GUARDED_BY(mutex_);
  uint64_t posted_ GUARDED_BY(mutex_) = 0;
  uint64_t written_ GUARDED_BY(mutex_) = 0;
  uint64_t dropped_ GUARDED_BY(mutex_) = 0;
  uint64_t dropped_unreported_ GUARDED_BY(mutex_) = 0;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace aethel::base
