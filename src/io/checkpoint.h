// Checkpoint: a folder of safetensors weights behind one name → tensor lookup. Decision: resolve
// the layout like transformers does (model.safetensors first, then model.safetensors.index.json,
// else the folder's only *.safetensors / *.safetensors.index.json), open every shard exactly once
// at open() and check that each indexed tensor is really in its shard, so a broken checkpoint
// fails before any weight is used. Copies share the opened shards.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"

namespace kiln::io {

class Checkpoint {
 public:
  Checkpoint() = default;  // empty; has() is false for every name
  static Checkpoint open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return tensors_->count(name) != 0; }
  // Zero-copy CPU view; throws "tensor 'x' not found in <dir>" listing a few similar names.
  Tensor get(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // dtype/shape without touching data
  std::vector<std::string> names() const;                 // sorted
  // The distinct files backing this checkpoint, sorted by path.
  std::vector<std::shared_ptr<SafetensorsFile>> files() const;

 private:
  const std::shared_ptr<SafetensorsFile>& file_of(const std::string& name) const;

  std::string dir_;
  // name → the shard holding it; shards are shared between names.
  std::shared_ptr<std::map<std::string, std::shared_ptr<SafetensorsFile>>> tensors_ =
      std::make_shared<std::map<std::string, std::shared_ptr<SafetensorsFile>>>();
};

}  // namespace kiln::io
