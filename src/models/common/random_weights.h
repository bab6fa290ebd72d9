// Seeded random weights for performance work without a checkpoint (`kiln build`, `kiln bench`).
// Every element is a SplitMix64 hash of (seed, position of its entry in the family's weight map,
// element index), so a family's weights depend only on the seed and the map (not on threads).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/weight_map.h"

namespace kiln::models {

// Norm scales (kiln names `*norm.weight`, `ln_*.weight`) start at 1, everything else at 0; both get
// uniform noise with std 0.02 (HF's initializer_range).
bool is_norm_weight(const std::string& kiln_name);

// Allocates every entry as an fp32 CPU tensor of its shape and fills it; starts_at_one(kiln_name)
// picks the entries centred on 1 (default: is_norm_weight).
void fill_random_weights(const std::vector<WeightEntry>& entries, uint64_t seed,
                         const std::function<bool(const std::string&)>& starts_at_one = {});

}  // namespace kiln::models
