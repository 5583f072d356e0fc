// The renderings of a report: the summary about the report's focus, the Markdown, and the HTML
// page with its charts coloured by role; and the accuracy points the renderings draw.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "bnh/registry.hpp"
#include "properties/accuracy_sweep.hpp"
#include "reports/render_html.hpp"
#include "reports/render_markdown.hpp"
#include "reports/schema.hpp"
#include "reports/summary.hpp"
#include "reports/svg_chart.hpp"

namespace {

using namespace bnh::reports;

// Three implementations at 1 and 2 threads on one shape, with their derived figures written out
// (the renderers only read them): the baseline 4x slower than the focus, a peer 1.25x slower.
Report rendered_report(const std::string& focus = "openmp", bnh::Role focus_role = bnh::Role::built_in) {
  Report report;
  report.created = "2026-01-01T00:00:00Z";
  report.machine.caches = {32768, 1 << 20, 1 << 25, true};
  report.machine.bandwidth = {{1, 20, 18, 1 << 26}, {2, 30, 27, 1 << 26}};
  report.suite.name = "quick";
  report.suite.repetitions = 3;
  report.focus = focus;
  const std::pair<std::string, bnh::Role> implementations[] = {
      {"naive", bnh::Role::baseline}, {focus, focus_role}, {"onednn", bnh::Role::peer}};
  for (int threads : {1, 2}) {
    for (const auto& [name, role] : implementations) {
      const double median = (name == "naive" ? 4e-3 : name == focus ? 1e-3 : 1.25e-3) / threads;
      Benchmark b;
      b.id = "bn_forward_train/nchw/f32/16x64x56x56/t" + std::to_string(threads) + "/" + name;
      b.implementation = name;
      b.role = role;
      b.operation = "bn_forward_train";
      b.dtype = "f32";
      b.layout = "nchw";
      b.shape = {16, 64, 56, 56};
      b.threads = threads;
      b.timing.repetitions = {median, median, median};
      b.timing.median_s = b.timing.min_s = median;
      b.bytes = 25690112;
      b.gbps = 25690112 / median / 1e9;
      b.roofline_fraction = 0.5;
      b.bound_fraction = name == focus ? 0.8 : 0.2;
      b.speedup_vs_naive = 4e-3 / threads / median;
      b.speedup_vs_best_peer = 1.25e-3 / threads / median;
      b.best_peer = "onednn";
      report.benchmarks.push_back(b);
    }
  }
  for (double kappa : {1.0, 1e4, 1e8}) {
    bnh::AccuracyPoint point;
    point.implementation = focus;
    point.regime = bnh::AccuracyRegime::large_mean;
    point.kappa = kappa;
    point.m = 1024;
    point.max_ulp_error = 3;
    point.max_scaled_error = kappa / 1e6;
    point.bound = 20;
    point.cases = 4;
    point.failed_cases = kappa > 1e7 ? 1 : 0;
    report.accuracy.push_back(point);
  }
  return report;
}

TEST(Summary, IsAboutTheReportsFocus) {
  const Summary summary = summarize(rendered_report());
  EXPECT_EQ(summary.focus, "openmp");
  EXPECT_EQ(summary.baseline, "naive");
  ASSERT_EQ(summary.rows.size(), 2u);  // 1 and 2 threads
  const SummaryRow& row = summary.rows[0];
  EXPECT_EQ(row.fastest, "openmp");
  EXPECT_NEAR(*row.vs_baseline, 4, 1e-12);
  EXPECT_NEAR(*row.vs_best_peer, 1.25, 1e-12);
  EXPECT_EQ(row.best_peer, "onednn");
  EXPECT_NEAR(*row.bandwidth, 0.5, 1e-12);
  EXPECT_NEAR(*row.bound, 0.8, 1e-12);
  // 16x64x56x56 f32: x + y are 25.7 MB, less than the 32 MiB last-level cache.
  EXPECT_FALSE(row.bandwidth_large.has_value());
  EXPECT_FALSE(row.bound_large.has_value());
}

TEST(Summary, APluginUnderTestCanBeTheFocus) {
  const Report report = rendered_report("my_kernel", bnh::Role::under_test);
  const Summary summary = summarize(report);
  EXPECT_EQ(summary.focus, "my_kernel");
  EXPECT_EQ(summary.rows[0].fastest, "my_kernel");
  EXPECT_NEAR(*summary.rows[0].vs_baseline, 4, 1e-12);
  const std::string text = format_summary_text(report);
  EXPECT_NE(text.find("summary of my_kernel"), std::string::npos) << text;
  EXPECT_NE(text.find("vs naive"), std::string::npos) << text;
  EXPECT_EQ(text.find("openmp"), std::string::npos) << text;
}

TEST(Render, HtmlIsSelfContainedWithEveryKindOfChart) {
  const std::string html = render_html(rendered_report());
  for (const char* id : {"id=\"bandwidth-bn-forward-train-nchw-f32-t1\"", "id=\"bound-bn-forward-train-nchw-f32-t1\"",
                         "id=\"speedup-peer-bn-forward-train-nchw-f32-t2\"",
                         "id=\"speedup-baseline-bn-forward-train-nchw-f32-t1\"",
                         "id=\"scaling-bn-forward-train-nchw-f32\"", "id=\"accuracy-bn-forward-train-f32\""}) {
    EXPECT_NE(html.find(id), std::string::npos) << id;
  }
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // the SVG namespace only
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_NE(html.find("<th>of bound (all)</th>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">80%</td>"), std::string::npos);  // the focus's bound fraction
}

// Colours follow roles, not names: the focus takes the first colour whatever it is called, the
// baseline grey, and the focus comes first in every legend.
TEST(Render, TheFocusHasTheFirstColourAndComesFirst) {
  for (const auto& [focus, role] : {std::pair{std::string("openmp"), bnh::Role::built_in},
                                    std::pair{std::string("my_kernel"), bnh::Role::under_test}}) {
    const std::string html = render_html(rendered_report(focus, role));
    const std::string focus_box = "fill=\"" + svg::palette_colour(0) + "\"/>\n<text";
    const auto chart = html.find("id=\"bandwidth-bn-forward-train-nchw-f32-t1\"");
    ASSERT_NE(chart, std::string::npos);
    const auto legend_focus = html.find(focus_box, chart);
    ASSERT_NE(legend_focus, std::string::npos) << focus;
    EXPECT_EQ(html.find(">" + focus + "</text>", legend_focus), html.find("</text>", legend_focus) - focus.size() - 1)
        << focus;
    EXPECT_LT(html.find(">" + focus + "</text>", chart), html.find(">naive</text>", chart)) << focus;
    EXPECT_NE(html.find("fill=\"" + std::string(svg::baseline_colour) + "\"><title>" +
                        "bn_forward_train/nchw/f32/16x64x56x56/t1/naive"),
              std::string::npos);
  }
}

TEST(Render, MarkdownHasTheSummaryAndAccuracyTables) {
  const std::string markdown = render_markdown(rendered_report());
  EXPECT_NE(markdown.find("| bn_forward_train | nchw | f32 | 1 | `openmp` | 4.00x | 1.25x (onednn) | 50% | - | 80% | - |"),
            std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("| `openmp` | bn_forward_train | f32 | - | 1e-06 | 0.010 | **FAIL** 100 |"), std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("- **focus** `openmp`"), std::string::npos) << markdown;
}

// bf16 beside f32: the same benchmarks 1.8 times faster, grouped per dtype, with the focus's
// speed over its own f32 in the summary, the Markdown, and a chart of its own.
TEST(Render, ReducedDtypesAreShownBesideF32) {
  Report report = rendered_report();
  report.machine.caches.last_level = 1 << 22;  // the shape's bf16 x + y, 12 MiB, exceed it
  const std::vector<Benchmark> f32 = report.benchmarks;
  for (Benchmark b : f32) {
    b.dtype = "bf16";
    b.id = "bn_forward_train/nchw/bf16/16x64x56x56/t" + std::to_string(b.threads) + "/" + b.implementation;
    b.timing.median_s /= 1.8;
    report.benchmarks.push_back(b);
  }
  derive(report);
  const std::string text = format_summary_text(report);
  EXPECT_NE(text.find("vs f32 >LLC"), std::string::npos) << text;
  EXPECT_NE(text.find("bf16      1   openmp"), std::string::npos) << text;
  EXPECT_NE(text.find("1.80x        1.80x"), std::string::npos) << text;
  const std::string markdown = render_markdown(report);
  EXPECT_NE(markdown.find("| bn_forward_train | nchw | bf16 | 2 | `openmp` | 4.00x | 1.25x (onednn) |"), std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("| 1.80x | 1.80x |"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| - | - |\n"), std::string::npos) << markdown;  // the f32 rows
  const std::string html = render_html(report);
  for (const char* id : {"id=\"speedup-f32-bn-forward-train-nchw-bf16-t1\"", "id=\"bandwidth-bn-forward-train-nchw-bf16-t2\"",
                         "id=\"bandwidth-bn-forward-train-nchw-f32-t2\"", "<h2>bf16 and f16 against f32</h2>",
                         "<th>vs f32 (&gt; LLC)</th>"}) {
    EXPECT_NE(html.find(id), std::string::npos) << id;
  }
  EXPECT_EQ(html.find("id=\"speedup-f32-bn-forward-train-nchw-f32"), std::string::npos);
  // Without reduced dtypes the summary has no such column.
  EXPECT_EQ(format_summary_text(rendered_report()).find("vs f32"), std::string::npos);
}

TEST(Render, AnInfiniteErrorIsListedNotDrawn) {
  Report report = rendered_report();
  report.accuracy[1].max_scaled_error = HUGE_VAL;
  const std::string html = render_html(report);
  EXPECT_EQ(html.find("scaled error inf"), std::string::npos);  // no point's tooltip
  EXPECT_NE(html.find("<td class=\"n\">inf</td>"), std::string::npos);
  EXPECT_NO_THROW(render_markdown(report));
}

TEST(Render, AReportWithoutBenchmarksOrAccuracyRenders) {
  const Report empty;
  EXPECT_NE(render_html(empty).find("Accuracy was not measured"), std::string::npos);
  EXPECT_NE(render_markdown(empty).find("No benchmark was measured."), std::string::npos);
  EXPECT_NE(format_summary_text(empty).find("(no benchmark measured)"), std::string::npos);
}

// ---- accuracy --------------------------------------------------------------------------------

TEST(Accuracy, ConditionedCasesHaveTheRequestedRatio) {
  bnh::CaseSpec spec;
  spec.desc = {8, 3, 4, 4, bnh::Layout::nhwc, bnh::DType::f64};
  for (double kappa : {1.0, 1e4, 1e8}) {
    const bnh::Case conditioned = bnh::make_conditioned_case(spec, kappa);
    EXPECT_NEAR(bnh::condition_of(conditioned) / kappa, 1, 1e-6) << kappa;
  }
}

TEST(Accuracy, OnePointPerImplementationOperationDtypeAndKappa) {
  bnh::AccuracyOptions options;
  options.implementations = {"naive"};
  options.operations = {bnh::Operation::bn_forward_infer, bnh::Operation::bn_backward};
  options.dtypes = {bnh::DType::f32};
  options.kappas = {1, 1e4};
  options.cases = 2;
  options.shapes = {{4, 2, 2, 2}};
  const auto points = bnh::measure_accuracy(options);
  ASSERT_EQ(points.size(), 2u * 3u);  // normal, kappa 1, kappa 1e4
  for (const auto& point : points) {
    EXPECT_EQ(point.implementation, "naive");
    EXPECT_EQ(point.cases, 2);
    EXPECT_FALSE(point.failed());
    EXPECT_LE(point.max_scaled_error, point.bound);
  }
  EXPECT_EQ(points[0].regime, bnh::AccuracyRegime::normal);
  EXPECT_EQ(points[2].kappa, 1e4);
}

// The statistics dtype travels with a point: pure bf16 is written "bf16:bf16" and read back.
TEST(Accuracy, APointKeepsItsStatisticsDtypeInTheReport) {
  bnh::AccuracyPoint point;
  point.implementation = "naive";
  point.dtype = bnh::DType::bf16;
  point.stats = bnh::DType::bf16;
  const nlohmann::json entry = point;
  EXPECT_EQ(entry.at("dtype"), "bf16:bf16");
  const auto read = entry.get<bnh::AccuracyPoint>();
  EXPECT_EQ(read.dtype, bnh::DType::bf16);
  EXPECT_EQ(read.stats, bnh::DType::bf16);
  point.stats.reset();
  EXPECT_EQ(nlohmann::json(point).at("dtype"), "bf16");
  EXPECT_FALSE(nlohmann::json(point).get<bnh::AccuracyPoint>().stats);
  Report report;
  report.accuracy = {point, read};
  const std::string markdown = render_markdown(report);
  EXPECT_NE(markdown.find("| `naive` | bn_forward_train | bf16:bf16 |"), std::string::npos) << markdown;
  EXPECT_NE(render_html(report).find("id=\"accuracy-bn-forward-train-bf16-bf16\""), std::string::npos);
}

// Reduced data through the sweep: mixed and pure bf16, and f16 without the kappas whose mean
// f16 cannot hold.
TEST(Accuracy, ReducedDtypesAreSweptUpToTheirRange) {
  bnh::AccuracyOptions options;
  options.implementations = {"naive"};
  options.operations = {bnh::Operation::bn_forward_infer};
  options.dtypes = {bnh::DType::bf16, {bnh::DType::bf16, bnh::DType::bf16}, bnh::DType::f16};
  options.kappas = {1, 1e2, 1e8};
  options.cases = 1;
  options.shapes = {{4, 2, 2, 2}};
  const auto points = bnh::measure_accuracy(options);
  std::map<std::string, int> per_dtype;
  for (const auto& point : points) {
    ++per_dtype[point.dtypes()];
    EXPECT_TRUE(point.error.empty()) << point.error;
    if (point.dtype == bnh::DType::f16) {
      EXPECT_LT(point.kappa, 1e8);
    }
  }
  EXPECT_EQ(per_dtype["bf16"], 4);       // normal and three kappas
  EXPECT_EQ(per_dtype["bf16:bf16"], 4);
  EXPECT_EQ(per_dtype["f16"], 3);        // 1e8 standard deviations overflow f16
}

TEST(Accuracy, AnAccuracyReportHasARowAndALinePerM) {
  const auto naive = bnh::make_implementation("naive");
  bnh::AccuracyOptions options;
  options.operations = {bnh::Operation::bn_forward_train};
  options.dtypes = {bnh::DType::f64};
  options.kappas = {1e6};
  options.cases = 1;
  options.shapes = {bnh::shape_with_m(16, 2), bnh::shape_with_m(1001, 2)};
  Report report;
  report.accuracy = bnh::measure_accuracy({naive.get()}, options);
  ASSERT_EQ(report.accuracy.size(), 2u * 2u);  // (normal, kappa 1e6) x two M
  EXPECT_EQ(report.accuracy[0].m, 16);
  EXPECT_EQ(report.accuracy[0].shape, (std::vector<std::int64_t>{8, 2, 2, 1}));
  EXPECT_EQ(report.accuracy[3].m, 1001);
  report.suite.name = "accuracy";
  report.suite.cases = 1;
  report.suite.seed = 1;
  report.suite.channels = 2;
  EXPECT_TRUE(is_accuracy_report(report));
  const std::string markdown = render_markdown(report);
  EXPECT_NE(markdown.find("# bnharness accuracy"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| `naive` | bn_forward_train | f64 | 1001 |"), std::string::npos) << markdown;
  EXPECT_EQ(markdown.find("## Summary"), std::string::npos) << markdown;
  EXPECT_NE(render_html(report).find("naive, M 1001"), std::string::npos);
}

// An implementation as a hostile plugin presents itself: a name and a refusal that are not
// UTF-8 and hold control characters.
class HostileStrings : public bnh::Implementation {
 public:
  std::string name() const override { return "bad\xff\xfe\nname"; }
  std::string description() const override { return "\x1b[31m"; }
  bool supports(const bnh::TensorDesc& desc) const override { return desc.dtype == bnh::DType::f64; }
  bool supports(bnh::Operation operation) const override { return operation == bnh::Operation::bn_forward_infer; }
  void bn_forward_infer(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*,
                        const void*, const void*, void*) override {
    throw bnh::PluginRefusal("bad\xff rejected bn_forward_infer: \xc3\x1b[2J");
  }
  void bn_forward_train(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*, void*,
                        void*, void*, void*, void*) override {
    throw bnh::Unsupported("no");
  }
  void bn_backward(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*, const void*,
                   const void*, void*, void*, void*) override {
    throw bnh::Unsupported("no");
  }
  void renorm_forward_train(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*, void*,
                            void*, void*, void*, void*, void*, void*) override {
    throw bnh::Unsupported("no");
  }
  void renorm_backward(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*,
                       const void*, const void*, const void*, const void*, void*, void*, void*) override {
    throw bnh::Unsupported("no");
  }
};

TEST(Accuracy, PointsOfAPluginWithHostileStringsAreValidInTheReport) {
  HostileStrings hostile;
  bnh::AccuracyOptions options;
  options.operations = {bnh::Operation::bn_forward_infer};
  options.dtypes = {bnh::DType::f64};
  options.kappas = {1};
  options.cases = 1;
  options.shapes = {bnh::shape_with_m(16, 2)};
  Report report;
  report.accuracy = bnh::measure_accuracy({&hostile}, options);
  ASSERT_EQ(report.accuracy.size(), 2u);
  EXPECT_FALSE(report.accuracy[0].error.empty());
  EXPECT_EQ(report.accuracy[0].implementation, "bad\xEF\xBF\xBD\xEF\xBF\xBD\nname");
  EXPECT_NO_THROW(nlohmann::json(report).dump());  // the strict dump: every string is valid UTF-8
  EXPECT_NE(render_markdown(report).find("rejected"), std::string::npos);
  EXPECT_NO_THROW(render_html(report));
}

}  // namespace
