#include "runtime/output/stop_strings.h"

#include <algorithm>

#include "core/check.h"

namespace kiln::runtime {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops, bool include_stop_str_in_output)
    : stops_(std::move(stops)), include_stop_(include_stop_str_in_output) {
  for (const std::string& s : stops_) {
    KILN_CHECK(!s.empty(), "stop strings must be non-empty");
    max_stop_ = std::max(max_stop_, s.size());
  }
}

size_t StopStringMatcher::held_tail() const {
  if (include_stop_) return 0;
  const size_t pending = buffer_.size() - emitted_in_buffer_;
  for (size_t k = std::min(pending, max_stop_ - 1); k > 0; --k) {
    const std::string_view tail = std::string_view(buffer_).substr(buffer_.size() - k);
    for (const std::string& s : stops_)
      if (s.starts_with(tail)) return k;
  }
  return 0;
}

StopStringMatcher::Result StopStringMatcher::feed(std::string_view text) {
  Result r;
  if (stopped_) {
    r.stopped = true;
    r.stop_index = stop_index_;
    r.output_size = emitted_;
    return r;
  }
  buffer_.append(text);
  // A match ending inside the emitted part of buffer_ would have stopped an earlier feed.
  size_t best_end = std::string::npos, best_start = 0;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t pos = buffer_.find(stops_[i]);
    if (pos == std::string::npos) continue;
    const size_t end = pos + stops_[i].size();
    if (end < best_end || (end == best_end && pos < best_start)) {
      best_end = end;
      best_start = pos;
      stop_index_ = static_cast<int>(i);
    }
  }
  size_t cut;  // buffer_[emitted_in_buffer_, cut) goes out now
  if (best_end != std::string::npos) {
    // An excluded stop string never starts in emitted text (it would have been held back).
    cut = std::max(include_stop_ ? best_end : best_start, emitted_in_buffer_);
    stopped_ = true;
    r.stopped = true;
    r.stop_index = stop_index_;
  } else {
    cut = buffer_.size() - held_tail();
  }
  r.emit = buffer_.substr(emitted_in_buffer_, cut - emitted_in_buffer_);
  emitted_ += r.emit.size();
  r.output_size = emitted_;
  if (stopped_) {
    buffer_.clear();
    emitted_in_buffer_ = 0;
  } else {
    // Keep the last max_stop - 1 bytes (emitted or not) to find matches spanning feeds.
    const size_t drop = std::min(cut, buffer_.size() - std::min(buffer_.size(), max_stop_ - 1));
    buffer_.erase(0, drop);
    emitted_in_buffer_ = cut - drop;
  }
  return r;
}

std::string StopStringMatcher::flush() {
  std::string out = buffer_.substr(emitted_in_buffer_);
  buffer_.clear();
  emitted_in_buffer_ = 0;
  emitted_ += out.size();
  return out;
}

}  // namespace kiln::runtime
