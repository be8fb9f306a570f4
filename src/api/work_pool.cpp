// A fixed number of threads serving a bounded queue: the verifier pool (Z3) and the
// pool for routes that wait on other nodes.
#include <sys/resource.h>
#include <unistd.h>

#include <deque>
#include <thread>

#include "api/routes.h"
#include "base/base.h"

namespace aethel::api {

class WorkPool::Impl {
 public:
  Impl(std::string_view name, unsigned threads, size_t max_queued, int nice)
      : max_queued_(max_queued) {
    for (unsigned i = 0; i < std::max(1u, threads); ++i) {
      threads_.push_back(base::named_thread(name, [this, nice] {
        // Lowering a thread's own priority needs no privilege; should it fail anyway,
        // the pool still works, only at the node's priority.
        if (nice != 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice);
        run();
      }));
    }
  }

  ~Impl() {
    std::deque<std::function<void()>> dropped;
    {
      base::MutexLock lock(mutex_);
      stopping_ = true;
      dropped.swap(queue_);
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
    // `dropped` is destroyed here, outside the lock: a task's destructor may answer.
  }

  bool try_post(std::function<void()>& task) EXCLUDES(mutex_) {
    {
      base::MutexLock lock(mutex_);
      if (stopping_ || queue_.size() >= max_queued_) return false;
      queue_.push_back(std::move(task));
    }
    wake_.notify_one();
    return true;
  }

 private:
  void run() EXCLUDES(mutex_) {
    for (;;) {
      std::function<void()> task;
      {
        base::MutexLock lock(mutex_);
        wake_.wait(lock, [&]() REQUIRES(mutex_) { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const size_t max_queued_;
  base::Mutex mutex_;
  base::CondVar wake_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mutex_);
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

WorkPool::WorkPool(std::string_view name, unsigned threads, size_t max_queued, int nice)
    : max_queued_(max_queued), impl_(std::make_unique<Impl>(name, threads, max_queued, nice)) {}

WorkPool::~WorkPool() = default;

bool WorkPool::try_post(std::function<void()> task) {
  if (impl_->try_post(task)) return true;
  task = nullptr;  // dropped now, by the caller's thread
  return false;
}

}  // namespace aethel::api
