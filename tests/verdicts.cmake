# Verdicts of bnh check (docs/verdicts.md): nothing checked, refusals set aside, input
# validation reported apart from the numbers, --strict. plugins/verdict_plugin.c is a correct
# textbook plugin, built once per verdict.
set(bnh_verdicts refuse_n1 refuse_all lax crash_on_bad_eps f32_only no_operations)
foreach(verdict ${bnh_verdicts})
  add_library(bnh_verdict_${verdict} MODULE plugins/verdict_plugin.c)
  target_include_directories(bnh_verdict_${verdict} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(bnh_verdict_${verdict} PRIVATE m)
  string(TOUPPER ${verdict} verdict_macro)
  target_compile_definitions(bnh_verdict_${verdict} PRIVATE VERDICT_${verdict_macro})
endforeach()

add_test(NAME verdicts.cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/verdicts_cli.sh $<TARGET_FILE:bnh>
  $<TARGET_FILE_DIR:bnh_verdict_lax>)
set_tests_properties(verdicts.cli PROPERTIES TIMEOUT 600)
