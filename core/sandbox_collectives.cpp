// A synchronized plugin's collectives, on the harness's side of the sandbox (core/sandbox.hpp):
// the worker has put the rank's values in the exchange area and asked; the harness carries the
// collective out with the rank's Communicator, puts the results after the values, and answers.
// The request comes from a process that runs plugin code, so it is checked before it is used.
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>

#include "bnh/communicator.hpp"
#include "core/sandbox.hpp"
#include "core/sandbox_guards.hpp"

namespace bnh {

using sandbox::CollectiveKind;
using sandbox::CollectiveRequest;

void Sandbox::serve_collective() {
  const CollectiveRequest request = control_->collective;
  std::int32_t status = 1;
  if (collective_failure_.empty()) {
    try {
      carry_out(request);
      status = 0;
    } catch (const Error& error) {
      collective_failure_ = error.what();
    } catch (...) {
      stop();  // the worker waits for an answer it will not get
      throw;
    }
  }
  // Once one collective of a call has failed, the later ones fail at once: the ranks no longer
  // agree on where they are.
  control_->collective.status = status;
  const auto answer = sandbox::Message::collective_done;
  // A worker that died meanwhile is noticed when its answer does not come.
  send(socket_, &answer, sizeof answer, MSG_NOSIGNAL);
}

void Sandbox::carry_out(const CollectiveRequest& request) {
  const bool known = request.kind == CollectiveKind::all_gather || request.kind == CollectiveKind::all_reduce_sum;
  const std::int64_t bytes = known ? sandbox::exchange_bytes(request.kind, request.count, communicator_->size()) : -1;
  struct stat file {};
  if (bytes < 0 || fstat(exchange_file_, &file) != 0 || bytes > file.st_size) {
    throw Error("the worker asked for a collective of " + std::to_string(request.count) +
                " values that the exchange area does not hold");
  }
  const auto size = static_cast<std::size_t>(file.st_size);
  if (size != exchange_mapped_) {
    if (exchange_area_ != nullptr) munmap(exchange_area_, exchange_mapped_);
    exchange_area_ = nullptr;
    exchange_mapped_ = 0;
    if (size > 0) exchange_area_ = static_cast<unsigned char*>(sandbox::map_shared(exchange_file_, size));
    exchange_mapped_ = size;
  }
  auto* values = reinterpret_cast<double*>(exchange_area_);
  double* results = values + request.count;
  if (request.count == 0) {
    // Nothing to move, but every rank still meets here.
    static double nothing[1];
    values = results = nothing;
  }
  if (request.kind == CollectiveKind::all_gather) {
    communicator_->all_gather(values, request.count, results);
  } else {
    std::copy(values, values + request.count, results);
    communicator_->all_reduce_sum(results, request.count);
  }
}

}  // namespace bnh
