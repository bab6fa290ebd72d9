// MappedFile: a whole regular file mapped read-only into memory. Decision: weights are never read
// into heap buffers; tensors borrow pages of this mapping, and the page cache shares them between
// processes. Opening rejects directories, FIFOs and devices up front (O_NONBLOCK, so a FIFO can
// never hang the open), and every failure is a kiln::Error naming the path.
#pragma once

#include <cstddef>
#include <string>

namespace kiln::io {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws kiln::Error
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }  // [size] bytes, read-only pages; null when size == 0
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole regular file into a string (for small JSON files); same checks as MappedFile.
std::string read_text_file(const std::string& path);

}  // namespace kiln::io
