// bf16 outputs are stored by truncation: the float result's upper 16 bits, without rounding to
// nearest even (a hand-written conversion that drops the lower half). Each element is up to one
// bf16 step too close to zero, and every output leans the same way.
#include <cstring>

#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct Bf16StoreTruncates : Textbook<Bf16StoreTruncates> {
  static constexpr const char* name = "bf16_store_truncates";

  template <typename E>
  static E stored(double value) {
    if constexpr (std::is_same_v<E, bfloat16>) {
      const float wide = static_cast<float>(value);
      std::uint32_t bits;
      std::memcpy(&bits, &wide, sizeof bits);
      return bfloat16::from_bits(static_cast<std::uint16_t>(bits >> 16));
    } else {
      return Textbook::stored<E>(value);
    }
  }
};

}  // namespace

BNH_MUTANT_ON(Bf16StoreTruncates, "bf16 stored by truncation, not rounded to nearest even", DType::bf16,
              DTypeChoice(DType::bf16, DType::bf16));

}  // namespace bnh::mutants
