// Properties of batch renormalization: the limits on r and d, and how renorm reduces to batch
// norm.
#include "properties/property_checks.hpp"

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "properties/execution.hpp"
#include "properties/property_helpers.hpp"
#include "properties/tolerance.hpp"

namespace bnh::detail {

// rmax = 1, dmax = 0 is batch norm: r = 1, d = 0 exactly, and every output matches.
BoundFraction renorm_unit_limits_is_batch_norm(Implementation& impl, const Case& original) {
  BoundFraction worst;
  Case tc = original;
  tc.params.rmax = 1;
  tc.params.dmax = 0;
  const auto bn = run_forward_train(impl, tc, false);
  const auto renorm = run_forward_train(impl, tc, true);
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    if (!std::isfinite(renorm.r[c])) continue;
    if (renorm.r[c] != 1 || renorm.d[c] != 0) {
      fail("rmax = 1, dmax = 0 gave r = " + std::to_string(renorm.r[c]) + ", d = " +
           std::to_string(renorm.d[c]) + " in channel " + std::to_string(c));
    }
  }
  const auto scales = forward_scales(tc);
  auto both_within = [&](const std::string& what, const std::vector<double>& a, const std::vector<double>& b,
                         const std::vector<double>& scale, Output output) {
    worst.note(expect_close(what, a, b, scale, judge(tc, output), 2));
  };
  both_within("renorm y against bn y", renorm.y, bn.y, scales.y, Output::y);
  both_within("renorm save_invstd against bn", renorm.save_invstd, bn.save_invstd, scales.save_invstd,
              Output::save_invstd);
  both_within("renorm running_mean against bn", renorm.running_mean, bn.running_mean, scales.running_mean,
              Output::running_mean);
  both_within("renorm running_var against bn", renorm.running_var, bn.running_var, scales.running_var,
              Output::running_var);
  const auto bn_back = run_backward(impl, tc, false, bn.save_mean, bn.save_invstd);
  const auto renorm_back = run_backward(impl, tc, true, bn.save_mean, bn.save_invstd, renorm.r, renorm.d);
  const auto back_scales = backward_scales(tc, bn.save_mean, bn.save_invstd);
  both_within("renorm dx against bn dx", renorm_back.dx, bn_back.dx, back_scales.dx, Output::dx);
  both_within("renorm dgamma against bn dgamma", renorm_back.dgamma, bn_back.dgamma, back_scales.dgamma,
              Output::dgamma);
  return worst;
}

// 1/rmax <= r <= rmax and |d| <= dmax, up to the rounding of the limits to the statistics
// dtype (r and d are held in it).
BoundFraction renorm_within_limits(Implementation& impl, const Case& tc) {
  const auto forward = run_forward_train(impl, tc, true);
  const double slack = 1 + 4 * unit_roundoff(tc.desc.stats_dtype());
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    const double r = forward.r[c], d = forward.d[c];
    if (std::isnan(r) || std::isnan(d)) continue;
    if (r * slack < 1 / tc.params.rmax || r > tc.params.rmax * slack || std::fabs(d) > tc.params.dmax * slack) {
      std::ostringstream out;
      out.precision(10);
      out << "channel " << c << ": r = " << r << " outside [1/rmax, rmax] = [" << 1 / tc.params.rmax
          << ", " << tc.params.rmax << "] or d = " << d << " outside [-dmax, dmax], dmax = " << tc.params.dmax;
      fail(out.str());
    }
  }
  return {};
}

// Renorm's dx is r times batch norm's for the same dy and saved statistics; dbeta is the same
// and dgamma = r dgamma_bn + d dbeta.
BoundFraction renorm_gradient_is_r_times_batch_norm(Implementation& impl, const Case& tc) {
  BoundFraction worst;
  const auto forward = run_forward_train(impl, tc, true);
  const auto bn_back = run_backward(impl, tc, false, forward.save_mean, forward.save_invstd);
  const auto renorm_back = run_backward(impl, tc, true, forward.save_mean, forward.save_invstd, forward.r, forward.d);
  std::vector<double> expected_dx(bn_back.dx.size()), expected_dgamma(tc.desc.c);
  for (std::size_t i = 0; i < expected_dx.size(); ++i) {
    expected_dx[i] = bn_back.dx[i] * forward.r[channel_of(tc.desc, static_cast<std::int64_t>(i))];
  }
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    expected_dgamma[c] = forward.r[c] * bn_back.dgamma[c] + forward.d[c] * bn_back.dbeta[c];
  }
  const auto scales = backward_scales(tc, forward.save_mean, forward.save_invstd, forward.r, forward.d);
  // f16: batch norm's dx may overflow where renorm's (r < 1) does not, and the other way round.
  auto renorm_dx = renorm_back.dx;
  leave_out_overflows(tc.desc.dtype, renorm_dx, expected_dx, {&bn_back.dx});
  auto renorm_dgamma = renorm_back.dgamma;
  leave_out_overflows(tc.desc.stats_dtype(), renorm_dgamma, expected_dgamma, {&bn_back.dgamma, &bn_back.dbeta});
  worst.note(expect_close("renorm dx against r * bn dx", renorm_dx, expected_dx, scales.dx,
                          judge(tc, Output::dx), 2));
  worst.note(expect_close("renorm dbeta against bn dbeta", renorm_back.dbeta, bn_back.dbeta, scales.dbeta,
                          judge(tc, Output::dbeta), 2));
  worst.note(expect_close("renorm dgamma against r dgamma_bn + d dbeta", renorm_dgamma, expected_dgamma,
                          scales.dgamma, judge(tc, Output::dgamma), 2));
  return worst;
}

}  // namespace bnh::detail
