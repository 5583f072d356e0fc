# Command-line robustness: bounded counts, allocation limits, output paths, compare's input, the
# top-level handler's statuses, and the dtypes gradcheck and accuracy choose.

# A correct plugin that supports f32 only; the same plugin crashing while it loads, and refusing
# training batches below 4.
add_library(bnh_test_plugin_f32_only MODULE plugins/f32_only_plugin.c)
add_library(bnh_test_plugin_crash_on_load MODULE plugins/f32_only_plugin.c)
target_compile_definitions(bnh_test_plugin_crash_on_load PRIVATE CRASH_WHILE_LOADING)
add_library(bnh_test_plugin_refuse_small_batch MODULE plugins/f32_only_plugin.c)
target_compile_definitions(bnh_test_plugin_refuse_small_batch PRIVATE REFUSE_SMALL_BATCH)
foreach(plugin f32_only crash_on_load refuse_small_batch)
  target_include_directories(bnh_test_plugin_${plugin} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(bnh_test_plugin_${plugin} PRIVATE m)
endforeach()

add_test(NAME cli.hardening COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_hardening.sh $<TARGET_FILE:bnh>
  $<TARGET_FILE:bnh_test_plugin_f32_only> $<TARGET_FILE:bnh_test_plugin_crash_on_load>
  $<TARGET_FILE:bnh_test_plugin_minimal> $<TARGET_FILE:bnh_test_plugin_refuse_small_batch>)
set_tests_properties(cli.hardening PROPERTIES TIMEOUT 300)
