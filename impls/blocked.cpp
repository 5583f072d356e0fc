// blocked: the openmp kernels pinned to one thread (impls/tiles/). Each operation walks the
// tensor in pieces sized from the machine's caches, so that a pass which needs the data again
// finds it still in cache; statistics of f32, bf16 and f16 data take one pass through memory, f64
// two passes over each piece in cache; outputs larger than the last-level cache are written with
// streaming stores. bf16 and f16 data are computed in f32 with statistics in f32 or wider.
#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"
#include "impls/tiles/team_passes.hpp"

namespace {

struct Blocked : bnh::tiles::TiledOperations<bnh::tiles::TeamPasses, bnh::tiles::Threads::one> {
  static constexpr const char* name = "blocked";
  static constexpr const char* description =
      "single-threaded, cache-sized tiles, vectorized; shifted tile moments (f32 in one pass) merged with "
      "Chan's update";
};

}  // namespace

BNH_REGISTER_IMPLEMENTATION(Blocked);
