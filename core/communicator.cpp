// What every back end of bnh::Communicator shares: the sum built on the gather, and the C view a
// synchronized plugin receives.
#include "bnh/communicator.hpp"

#include <vector>

namespace bnh {

// The ranks' values summed in rank order from the gathered copy: every rank adds the same
// numbers in the same order, so every rank holds bitwise the same sums.
void Communicator::all_reduce_sum(double* values, std::int64_t count) {
  std::vector<double> gathered(static_cast<std::size_t>(size()) * static_cast<std::size_t>(count > 0 ? count : 0));
  all_gather(values, count, gathered.data());
  for (std::int64_t j = 0; j < count; ++j) {
    double sum = gathered[j];
    for (int k = 1; k < size(); ++k) sum += gathered[k * count + j];
    values[j] = sum;
  }
}

namespace {

// The harness's collective behind a plugin's call: 0 when it completed, nonzero when it threw
// (or the plugin passed something unusable). No exception crosses into C.
template <typename Collective>
int call_collective(const bnh_communicator* self, std::int64_t count, Collective&& collective) {
  if (self == nullptr || self->context == nullptr || count < 0) return 1;
  try {
    collective(*static_cast<Communicator*>(self->context));
    return 0;
  } catch (...) {
    return 1;
  }
}

int c_all_gather(const bnh_communicator* self, const double* values, int64_t count, double* gathered) {
  if (count > 0 && (values == nullptr || gathered == nullptr)) return 1;
  return call_collective(self, count, [&](Communicator& communicator) {
    communicator.all_gather(values, count, gathered);
  });
}

int c_all_reduce_sum(const bnh_communicator* self, double* values, int64_t count) {
  if (count > 0 && values == nullptr) return 1;
  return call_collective(self, count, [&](Communicator& communicator) {
    communicator.all_reduce_sum(values, count);
  });
}

}  // namespace

bnh_communicator Communicator::to_c() {
  bnh_communicator view{};
  view.context = this;
  view.rank = rank();
  view.size = size();
  view.all_gather = &c_all_gather;
  view.all_reduce_sum = &c_all_reduce_sum;
  return view;
}

}  // namespace bnh
