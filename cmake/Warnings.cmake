include(GoogleTest)
# Applied to the project's own targets (not to dependencies). With clang, the lock
# annotations of src/base/base.h (GUARDED_BY, REQUIRES, ...) are checked, and a
# violation fails the build.
function(aethel_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                                           -Wnon-virtual-dtor -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety -Werror=thread-safety)
  endif()
endfunction()

# aethel_test(NAME [SERIAL] SOURCES... LIBS ... LABELS ...): a GoogleTest executable
# registered with ctest; SERIAL runs its tests alone (timing against a bound).
function(aethel_test name)
  cmake_parse_arguments(T "SERIAL" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  aethel_warnings(${name})
  set(serial FALSE)
  if(T_SERIAL)
    set(serial TRUE)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${T_LABELS}"
                       RUN_SERIAL ${serial})
endfunction()


# aethel_fuzzer(NAME SOURCES... LIBS ... [SECONDS n]): a libFuzzer target, built only
# when AETHEL_FUZZ is on (clang). Registered with ctest (label "fuzz") to run for
# SECONDS (default 60) from a fresh corpus directory in the build tree.
function(aethel_fuzzer name)
  if(NOT AETHEL_FUZZ)
    return()
  endif()
  cmake_parse_arguments(F "" "SECONDS" "SOURCES;LIBS;SEEDS" ${ARGN})
  if(NOT F_SECONDS)
    set(F_SECONDS 60)
  endif()
  add_executable(${name} ${F_SOURCES})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  set(corpus ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
  add_test(NAME fuzz.${name}
           COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
                   $<TARGET_FILE:${name}> -max_total_time=${F_SECONDS} -rss_limit_mb=2048
                   -print_final_stats=1 ${corpus} ${F_SEEDS})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 600)
  file(MAKE_DIRECTORY ${corpus})
endfunction()

# Adds the subfolder of each module in AETHEL_MODULES that has a CMakeLists.txt.
macro(aethel_add_subfolders)
  foreach(_module IN LISTS AETHEL_MODULES)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_module}/CMakeLists.txt)
      add_subdirectory(${_module})
    endif()
  endforeach()
endmacro()
