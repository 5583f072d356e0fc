# The fault catalogue (docs/plugin-abi.md): plugins/fault_plugin.c built once per way a plugin can
# misbehave, each with a test of the verdict and exit status bnh gives, and that no process is
# left behind (fault_lib.sh). Runs are narrowed to one property and a few cases to stay fast.
set(bnh_faults crash abort exit hang overrun_page overrun_bytes underrun write_input forks
  crash_on_bad_input crash_supports crash_constructor hang_constructor crash_get
  fp_environment hostile_strings)
test_plugins(bnh_fault plugins/fault_plugin.c fault ${bnh_faults})

set(fault_verdict ${CMAKE_CURRENT_SOURCE_DIR}/fault_verdict.sh)
set(one_property --property agreement_bn_forward_infer --dtype f64 --cases 5 --seed 5)

# fault_test(NAME STATUS PATTERN... ARGS ...): bnh check --plugin <NAME's plugin> ARGS must exit
# with STATUS and print every PATTERN.
function(fault_test fault status)
  cmake_parse_arguments(PARSE_ARGV 2 test "" "" "PATTERNS;ARGS")
  set(expectations)
  foreach(pattern ${test_PATTERNS})
    list(APPEND expectations -e ${pattern})
  endforeach()
  add_test(NAME fault.${fault} COMMAND ${fault_verdict} ${status} ${expectations} --
    $<TARGET_FILE:bnh> check --plugin $<TARGET_FILE:bnh_fault_${fault}> ${test_ARGS})
  set_tests_properties(fault.${fault} PROPERTIES TIMEOUT 150)
endfunction()

# In a call: the property that made the call fails (status 1) with a message naming the fault,
# the buffer and the offset; the run goes on.
set(fails "fault fails agreement_bn_forward_infer")
fault_test(crash 1 PATTERNS ${fails} "crashed with SIGSEGV [(]segmentation fault[)]$" ARGS ${one_property})
fault_test(abort 1 PATTERNS ${fails} "crashed with SIGABRT" ARGS ${one_property})
fault_test(exit 1 PATTERNS ${fails} "exited with status 3 instead of returning" ARGS ${one_property})
fault_test(hang 1 PATTERNS ${fails} "hung: no result within 1 s [(]killed[)]" ARGS ${one_property} --timeout 1)
fault_test(overrun_page 1 PATTERNS ${fails}
  "crashed with SIGSEGV [(]segmentation fault[)]: wrote to byte 4088 past the end of y" ARGS ${one_property})
fault_test(overrun_bytes 1 PATTERNS ${fails} "wrote to byte 0 past the end of y" ARGS ${one_property})
fault_test(underrun 1 PATTERNS ${fails} "wrote to byte 8 before the start of y" ARGS ${one_property})
fault_test(write_input 1 PATTERNS ${fails}
  "crashed with SIGSEGV [(]segmentation fault[)]: wrote into its read-only input x at byte 0" ARGS ${one_property})
# A crash on bad input is a failure, never a refusal.
fault_test(crash_on_bad_input 1 PATTERNS
  "input validation: misbehaved on bad input: bn_forward_infer: N = 0.*[(]a failure[)]"
  "crashed with SIGSEGV" "some properties FAILED"
  ARGS --property bad_input_refused --cases 5 --seed 5)
# While loading: a library constructor, bnh_impl_v1_get; then supports(), asked in the worker.
fault_test(crash_constructor 1 PATTERNS
  "crashed while loading [(]in its library constructors[)] with SIGSEGV" ARGS ${one_property})
fault_test(hang_constructor 1 PATTERNS
  "hung while loading [(]in its library constructors[)]: no result within 1 s [(]killed[)]"
  ARGS ${one_property} --timeout 1)
fault_test(crash_get 1 PATTERNS
  "crashed while loading [(]in bnh_impl_v1_get[)] with SIGSEGV" ARGS ${one_property})
fault_test(crash_supports 1 PATTERNS "fault crashed in supports[(][)] with SIGSEGV" ARGS ${one_property})

# A plugin that changes the FP environment does not change the harness's arithmetic.
add_test(NAME fault.fp_environment COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/fault_fp_environment.sh
  $<TARGET_FILE:bnh> $<TARGET_FILE:bnh_fault_fp_environment>)
# Hostile strings in a plugin's name and reasons: escaped on the terminal, valid in JSON.
add_test(NAME fault.hostile_strings COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/fault_strings.sh
  $<TARGET_FILE:bnh> $<TARGET_FILE:bnh_fault_hostile_strings>)
# Children a plugin forks end with bnh, also when bnh is killed.
add_test(NAME fault.forks COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/fault_forks.sh
  $<TARGET_FILE:bnh> $<TARGET_FILE:bnh_fault_forks>)
set_tests_properties(fault.fp_environment fault.hostile_strings fault.forks PROPERTIES TIMEOUT 150)

# The built-in implementations exported as plugins (impls/export/) pass as they do in-process:
# the C ABI tested from our side, OpenMP's threads inside a plugin included.
set(bnh_exported_tested naive openmp)
if(BNH_SANITIZE)
  set(bnh_exported_tested naive)  # impls/export builds only naive there
endif()
foreach(implementation ${bnh_exported_tested})
  add_test(NAME export.${implementation}_as_plugin COMMAND ${fault_verdict} 0
    -e "all properties hold" --
    $<TARGET_FILE:bnh> check --plugin $<TARGET_FILE:bnh_plugin_${implementation}> --cases 20 --seed 7)
  set_tests_properties(export.${implementation}_as_plugin PROPERTIES TIMEOUT 300)
endforeach()
