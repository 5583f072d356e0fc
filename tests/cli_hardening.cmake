# Command-line robustness: bounded counts, allocation limits, output paths, compare's input, the
# top-level handler's statuses, and the dtypes gradcheck and accuracy choose.

# A correct plugin that supports f32 only, and the same plugin crashing while it loads.
add_library(bnh_test_plugin_f32_only MODULE plugins/f32_only_plugin.c)
add_library(bnh_test_plugin_crash_on_load MODULE plugins/f32_only_plugin.c)
target_compile_definitions(bnh_test_plugin_crash_on_load PRIVATE CRASH_WHILE_LOADING)
foreach(plugin f32_only crash_on_load)
  target_include_directories(bnh_test_plugin_${plugin} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(bnh_test_plugin_${plugin} PRIVATE m)
endforeach()

add_test(NAME cli.hardening COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_hardening.sh $<TARGET_FILE:bnh>
  $<TARGET_FILE:bnh_test_plugin_f32_only> $<TARGET_FILE:bnh_test_plugin_crash_on_load>
  $<TARGET_FILE:bnh_test_plugin_minimal>)
set_tests_properties(cli.hardening PROPERTIES TIMEOUT 300)
