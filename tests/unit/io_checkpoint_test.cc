// Checkpoint folders: single file, sharded via index, lone *.safetensors, and their errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io_test_util.h"

namespace kiln::io {
namespace {

using testing::TempDir;

Tensor filled(const Shape& shape, float v) {
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v + static_cast<float>(i);
  return t;
}

// Two shards plus an index, as transformers writes them.
void write_sharded(const TempDir& dir) {
  write_safetensors(dir.file("model-00001-of-00002.safetensors"),
                    {{"model.embed.weight", filled({4, 2}, 0)},
                     {"model.layers.0.attn.q_proj.weight", filled({2, 2}, 10)}});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                    {{"model.layers.0.attn.k_proj.weight", filled({2, 2}, 20)},
                     {"lm_head.weight", filled({4, 2}, 30)}});
  testing::write_file(dir.file("model.safetensors.index.json"), R"({
    "metadata": {"total_size": 96},
    "weight_map": {
      "model.embed.weight": "model-00001-of-00002.safetensors",
      "model.layers.0.attn.q_proj.weight": "model-00001-of-00002.safetensors",
      "model.layers.0.attn.k_proj.weight": "model-00002-of-00002.safetensors",
      "lm_head.weight": "model-00002-of-00002.safetensors"
    }})");
}

TEST(Checkpoint, SingleFile) {
  TempDir dir;
  write_safetensors(dir.file("model.safetensors"), {{"w", filled({3}, 1)}, {"b", filled({1}, 5)}});
  Checkpoint c = Checkpoint::open(dir.str());
  EXPECT_EQ(c.names(), (std::vector<std::string>{"b", "w"}));
  EXPECT_TRUE(c.has("w"));
  EXPECT_FALSE(c.has("x"));
  EXPECT_EQ(c.get("w").data<float>()[2], 3.f);
  EXPECT_EQ(c.info("w").shape, (Shape{3}));
  EXPECT_EQ(c.files().size(), 1u);
}

TEST(Checkpoint, ShardedOpensEachShardOnce) {
  TempDir dir;
  write_sharded(dir);
  Checkpoint c = Checkpoint::open(dir.str());
  EXPECT_EQ(c.names().size(), 4u);
  EXPECT_EQ(c.names().front(), "lm_head.weight");
  EXPECT_EQ(c.get("lm_head.weight").data<float>()[7], 37.f);
  EXPECT_EQ(c.get("model.layers.0.attn.k_proj.weight").data<float>()[0], 20.f);
  ASSERT_EQ(c.files().size(), 2u);
  // Each shard is one SafetensorsFile shared by its tensors (and by copies of the checkpoint).
  Checkpoint copy = c;
  EXPECT_EQ(c.files()[0].use_count(), 2 + 1);  // two names + the vector element
  EXPECT_EQ(copy.get("model.embed.weight").raw(), c.get("model.embed.weight").raw());
}

TEST(Checkpoint, LoneSafetensorsFileAndLoneIndex) {
  TempDir dir;
  write_safetensors(dir.file("weights.safetensors"), {{"w", filled({2}, 0)}});
  EXPECT_TRUE(Checkpoint::open(dir.str()).has("w"));

  TempDir sharded;
  write_sharded(sharded);
  std::filesystem::rename(sharded.file("model.safetensors.index.json"),
                          sharded.file("pytorch_model.safetensors.index.json"));
  EXPECT_EQ(Checkpoint::open(sharded.str()).names().size(), 4u);
}

TEST(Checkpoint, NotFoundListsSimilarNames) {
  TempDir dir;
  write_sharded(dir);
  Checkpoint c = Checkpoint::open(dir.str());
  EXPECT_KILN_ERROR(c.get("model.layers.0.attn.v_proj.weight"),
                    "tensor 'model.layers.0.attn.v_proj.weight' not found in " + dir.str(),
                    "similar: 'model.layers.0.attn.k_proj.weight'");
  EXPECT_KILN_ERROR(Checkpoint().get("x"), "tensor 'x' not found");
}

TEST(Checkpoint, FolderErrors) {
  TempDir dir;
  EXPECT_KILN_ERROR(Checkpoint::open(dir.file("nope")), "does not exist");
  testing::write_file(dir.file("file"), "x");
  EXPECT_KILN_ERROR(Checkpoint::open(dir.file("file")), "is not a directory");
  EXPECT_KILN_ERROR(Checkpoint::open(dir.str()), "no model.safetensors",
                    "model.safetensors.index.json");
  write_safetensors(dir.file("a.safetensors"), {{"w", filled({2}, 0)}});
  write_safetensors(dir.file("b.safetensors"), {{"w", filled({2}, 0)}});
  EXPECT_KILN_ERROR(Checkpoint::open(dir.str()),
                    "2 *.safetensors files (a.safetensors, "
                    "b.safetensors)");
  testing::write_file(dir.file("model.safetensors"), "garbage!!");
  EXPECT_KILN_ERROR(Checkpoint::open(dir.str()), dir.file("model.safetensors"));
}

class BadIndex : public ::testing::Test {
 protected:
  void SetUp() override { write_sharded(dir_); }
  void expect_index_rejected(const std::string& index, const std::string& part) {
    testing::write_file(dir_.file("model.safetensors.index.json"), index);
    EXPECT_KILN_ERROR(Checkpoint::open(dir_.str()), "model.safetensors.index.json", part);
  }
  TempDir dir_;
};

TEST_F(BadIndex, Malformed) {
  expect_index_rejected("{\"weight_map\": {", "malformed JSON");
  expect_index_rejected("[]", "must be a JSON object");
  expect_index_rejected(R"({"metadata": {}})", "no \"weight_map\"");
  expect_index_rejected(R"({"weight_map": []})", "\"weight_map\" must be an object");
  expect_index_rejected(R"({"weight_map": {"w": 3}})", "weight_map['w'] must be a file name");
  expect_index_rejected(R"({"weight_map": {"w": "../x.safetensors"}})", "not a plain file name");
}

TEST_F(BadIndex, MissingShardOrTensor) {
  expect_index_rejected(R"({"weight_map": {"w": "model-00003-of-00003.safetensors"}})",
                        "names shard 'model-00003-of-00003.safetensors', which is missing");
  expect_index_rejected(R"({"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors"}})",
                        "tensor 'lm_head.weight' is mapped to 'model-00001-of-00002.safetensors', "
                        "which does not contain it");
}

TEST_F(BadIndex, CorruptShardIsNamed) {
  testing::write_file(dir_.file("model-00002-of-00002.safetensors"), "short");
  EXPECT_KILN_ERROR(Checkpoint::open(dir_.str()), "model-00002-of-00002.safetensors", "too short");
}

}  // namespace
}  // namespace kiln::io
