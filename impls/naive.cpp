// naive: the textbook loops; the kernels are in naive.hpp.
#include "impls/naive.hpp"

#include "bnh/registry.hpp"

namespace {
using Naive = bnh::naive::Naive;
}  // namespace

BNH_REGISTER_IMPLEMENTATION_AS(Naive, ::bnh::Role::baseline);
