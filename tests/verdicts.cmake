# Verdicts of bnh check (docs/verdicts.md): nothing checked, refusals set aside, input
# validation reported apart from the numbers, --strict. plugins/verdict_plugin.c is a correct
# textbook plugin, built once per verdict.
set(bnh_verdicts refuse_n1 refuse_all lax crash_on_bad_eps f32_only no_operations)
test_plugins(bnh_verdict plugins/verdict_plugin.c verdict ${bnh_verdicts})

add_test(NAME verdicts.cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/verdicts_cli.sh $<TARGET_FILE:bnh>
  $<TARGET_FILE_DIR:bnh_verdict_lax>)
set_tests_properties(verdicts.cli PROPERTIES TIMEOUT 600)
