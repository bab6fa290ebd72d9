#include "models/common/fused_weights.h"

#include <cstring>

#include "core/check.h"
#include "models/weight_map.h"

namespace kiln::models {

Tensor cat_rows(const std::vector<const Tensor*>& parts) {
  KILN_CHECK(!parts.empty(), "cat_rows: no parts");
  int64_t rows = 0;
  for (const Tensor* p : parts) rows += p->size(0);
  Shape shape = parts[0]->shape();
  shape[0] = rows;
  Tensor out = Tensor::empty(shape, DType::kFloat32);
  char* dst = static_cast<char*>(out.raw());
  for (const Tensor* p : parts) {
    const Tensor c = p->contiguous();
    std::memcpy(dst, c.raw(), c.nbytes());
    dst += c.nbytes();
  }
  return out;
}

void load_fused(const io::Checkpoint& ckpt, const std::vector<std::string>& hf_parts,
                const std::vector<int64_t>& part_rows, const Shape& shape, Tensor* out) {
  KILN_CHECK(hf_parts.size() == part_rows.size(), "load_fused: {} names for {} row counts",
             hf_parts.size(), part_rows.size());
  std::vector<Tensor> parts(hf_parts.size());
  std::vector<WeightEntry> entries;
  for (size_t i = 0; i < parts.size(); ++i) {
    Shape s = shape;
    s[0] = part_rows[i];
    entries.push_back({hf_parts[i], hf_parts[i], &parts[i], s, false});
  }
  load_weights(ckpt, entries, /*kiln_format=*/false);
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : parts) ptrs.push_back(&t);
  *out = cat_rows(ptrs);
}

}  // namespace kiln::models
