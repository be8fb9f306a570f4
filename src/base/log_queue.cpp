#include "base/log_queue.h"

namespace aethel::base {

LogQueue::LogQueue(Sink sink, size_t max_queued_lines)
    : sink_(std::move(sink)), max_queued_lines_(max_queued_lines) {
  thread_ = named_thread("log", [this] { run(); });
}

LogQueue::~LogQueue() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void LogQueue::post(std::string line) {
  MutexLock lock(mutex_);
  ++posted_;
  if (queue_.size() >= max_queued_lines_) {
    ++dropped_;
    ++dropped_unreported_;
    ++written_;  // accounted for: flush() must not wait for it
    return;
  }
  queue_.push_back(std::move(line));
  wake_.notify_one();
}

void LogQueue::flush() {
  MutexLock lock(mutex_);
  uint64_t target = posted_;
  drained_.wait(lock, [&] {
    mutex_.assert_held();
    return written_ >= target;
  });
}

uint64_t LogQueue::dropped() const {
  MutexLock lock(mutex_);
  return dropped_;
}

void LogQueue::run() {
  MutexLock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] {
      mutex_.assert_held();
      return stopping_ || !queue_.empty();
    });
    if (queue_.empty() && stopping_) return;
    std::vector<std::string> batch;
    if (dropped_unreported_ > 0) {
      batch.push_back("[LOG] " + std::to_string(dropped_unreported_) +
                      " lines dropped: the log could not keep up");
      dropped_unreported_ = 0;
    }
    size_t taken = queue_.size();
    for (std::string& line : queue_) batch.push_back(std::move(line));
    queue_.clear();
    lock.unlock();
    sink_(batch);
    lock.lock();
    written_ += taken;
    drained_.notify_all();
  }
}

}  // namespace aethel::base
