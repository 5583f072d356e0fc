// openmp: the tiled kernels (impls/tiles/: the per-channel math in channel_math.hpp, the passes
// in team_passes.hpp) over an OpenMP team of params.threads threads (0: OpenMP's default).
#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"
#include "impls/tiles/team_passes.hpp"

namespace {

struct OpenMP : bnh::tiles::TiledOperations<bnh::tiles::TeamPasses> {
  static constexpr const char* name = "openmp";
  static constexpr const char* description =
      "blocked's tiles over an OpenMP team (params.threads); partial results merged in thread order";
};

}  // namespace

BNH_REGISTER_IMPLEMENTATION(OpenMP);
