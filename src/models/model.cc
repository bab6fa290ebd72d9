#include "models/model.h"

#include "core/check.h"

namespace kiln::models {

void Model::encode(const layers::EncoderBatch&, layers::KvCacheView&, ExecContext&) {
  KILN_FAIL("{}: not an encoder–decoder model (no encoder)", spec().model_type);
}

}  // namespace kiln::models
