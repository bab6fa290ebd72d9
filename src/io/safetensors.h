// Safetensors read/write. Decision: a file is mmapped once and validated completely at open()
// (header size, JSON, dtypes, shapes, offsets that tile the data section exactly, as the reference
// Rust reader requires), so get() cannot fail on a corrupt file later; tensors are zero-copy CPU
// views whose owner keeps the mapping alive. The writer reproduces the reference writer byte for
// byte (tensor order, compact header, space padding to 8 bytes), so files round-trip with HF.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kiln::io {

class MappedFile;

struct TensorInfo {
  DType dtype = DType::kFloat32;
  Shape shape;       // [d0, d1, ...]; empty = scalar
  size_t begin = 0;  // byte offsets into the data section (after the 8 + N header bytes)
  size_t end = 0;
};

class SafetensorsFile : public std::enable_shared_from_this<SafetensorsFile> {
 public:
  // Maps and validates `path`; every defect is a kiln::Error naming the file.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& infos() const { return infos_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // __metadata__
  bool has(const std::string& name) const { return infos_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws if absent
  // CPU tensor over the mapped bytes (read-only pages: do not write through it); keeps this file
  // mapped while alive. Throws if absent.
  Tensor get(const std::string& name) const;

 private:
  SafetensorsFile() = default;

  std::string path_;
  std::unique_ptr<MappedFile> file_;
  const char* data_section_ = nullptr;  // [data_size] bytes after the header
  size_t data_size_ = 0;
  std::map<std::string, TensorInfo> infos_;
  std::map<std::string, std::string> metadata_;
};

// Writes CPU tensors of any dtype (non-contiguous sources are gathered) to `path`, via a temporary
// file in the same folder renamed into place. Names must be unique, non-empty and not
// "__metadata__". Output is byte-identical to the Python `safetensors` writer for the same input.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace kiln::io
