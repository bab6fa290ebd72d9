#include "io/checkpoint.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

#include "core/check.h"
#include "io/json_parse.h"
#include "io/mapped_file.h"

namespace kiln::io {
namespace fs = std::filesystem;
namespace {

constexpr const char* kSingle = "model.safetensors";
constexpr const char* kIndex = "model.safetensors.index.json";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::vector<std::string> files_ending(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (ends_with(name, suffix) && is_file(e.path())) out.push_back(name);
  }
  KILN_CHECK(!ec, "cannot list checkpoint folder '{}': {}", dir, ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

// Reads <dir>/<index_name>: weight_map entries → shards (each opened once).
void load_index(const std::string& dir, const std::string& index_name,
                std::map<std::string, std::shared_ptr<SafetensorsFile>>* tensors) {
  const std::string index_path = (fs::path(dir) / index_name).string();
  const nlohmann::json index =
      parse_json(read_text_file(index_path), index_path, /*reject_duplicates=*/true, 64);
  KILN_CHECK(index.is_object(), "{}: must be a JSON object, got {}", index_path,
             json_type_name(index));
  KILN_CHECK(index.contains("weight_map"), "{}: no \"weight_map\"", index_path);
  const nlohmann::json& map = index["weight_map"];
  KILN_CHECK(map.is_object(), "{}: \"weight_map\" must be an object, got {}", index_path,
             json_type_name(map));
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& [name, jshard] : map.items()) {
    KILN_CHECK(jshard.is_string(), "{}: weight_map['{}'] must be a file name, got {}", index_path,
               name, json_type_name(jshard));
    const std::string shard = jshard.get<std::string>();
    KILN_CHECK(!shard.empty() && shard != "." && shard != ".." &&
                   shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos,
               "{}: weight_map['{}'] = '{}' is not a plain file name in the folder", index_path,
               name, shard);
    auto it = shards.find(shard);
    if (it == shards.end()) {
      const fs::path shard_path = fs::path(dir) / shard;
      KILN_CHECK(is_file(shard_path), "{}: weight_map['{}'] names shard '{}', which is missing",
                 index_path, name, shard);
      it = shards.emplace(shard, SafetensorsFile::open(shard_path.string())).first;
    }
    KILN_CHECK(it->second->has(name),
               "{}: tensor '{}' is mapped to '{}', which does not contain it", index_path, name,
               shard);
    (*tensors)[name] = it->second;
  }
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& dir) {
  std::error_code ec;
  KILN_CHECK(fs::is_directory(dir, ec), "checkpoint folder '{}' {}", dir,
             fs::exists(dir, ec) ? "is not a directory" : "does not exist");
  Checkpoint c;
  c.dir_ = dir;
  auto add_single = [&](const std::string& name) {
    auto f = SafetensorsFile::open((fs::path(dir) / name).string());
    for (const auto& [tname, info] : f->infos()) (*c.tensors_)[tname] = f;
  };
  if (is_file(fs::path(dir) / kSingle)) {
    add_single(kSingle);
  } else if (is_file(fs::path(dir) / kIndex)) {
    load_index(dir, kIndex, c.tensors_.get());
  } else if (auto indexes = files_ending(dir, ".safetensors.index.json"); indexes.size() == 1) {
    load_index(dir, indexes[0], c.tensors_.get());
  } else {
    KILN_CHECK(indexes.empty(), "checkpoint folder '{}' has several index files ({}); expected {}",
               dir, fmt::join(indexes, ", "), kIndex);
    const auto files = files_ending(dir, ".safetensors");
    KILN_CHECK(!files.empty(), "checkpoint folder '{}' has no {} or {} (no *.safetensors at all)",
               dir, kSingle, kIndex);
    KILN_CHECK(files.size() == 1,
               "checkpoint folder '{}' has {} *.safetensors files ({}) but no {} to say how they "
               "combine",
               dir, files.size(), fmt::join(files, ", "), kIndex);
    add_single(files[0]);
  }
  return c;
}

const std::shared_ptr<SafetensorsFile>& Checkpoint::file_of(const std::string& name) const {
  auto it = tensors_->find(name);
  if (it != tensors_->end()) return it->second;
  std::vector<std::pair<size_t, std::string>> near;
  for (const auto& [n, f] : *tensors_) near.emplace_back(edit_distance(name, n), n);
  const size_t k = std::min<size_t>(5, near.size());
  std::partial_sort(near.begin(), near.begin() + k, near.end());
  std::vector<std::string> similar;
  for (size_t i = 0; i < k; ++i) similar.push_back("'" + near[i].second + "'");
  KILN_FAIL("tensor '{}' not found in {} ({} tensors{}{})", name, dir_, tensors_->size(),
            similar.empty() ? "" : "; similar: ", fmt::join(similar, ", "));
}

Tensor Checkpoint::get(const std::string& name) const { return file_of(name)->get(name); }

const TensorInfo& Checkpoint::info(const std::string& name) const {
  return file_of(name)->info(name);
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_->size());
  for (const auto& [n, f] : *tensors_) out.push_back(n);
  return out;
}

std::vector<std::shared_ptr<SafetensorsFile>> Checkpoint::files() const {
  std::map<std::string, std::shared_ptr<SafetensorsFile>> by_path;
  for (const auto& [n, f] : *tensors_) by_path[f->path()] = f;
  std::vector<std::shared_ptr<SafetensorsFile>> out;
  for (auto& [p, f] : by_path) out.push_back(f);
  return out;
}

}  // namespace kiln::io
