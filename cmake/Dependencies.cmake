# System dependencies. Each missing one stops configure naming the Debian package.
include(FindPackageMessage)

macro(engine_missing what pkg)
  message(FATAL_ERROR "${what} not found. Install it with:\n  sudo apt-get install -y ${pkg}\n"
                      "(or run scripts/setup.sh, which installs every dependency)")
endmacro()

add_library(engine_deps INTERFACE)

find_package(nlohmann_json 3 QUIET)
if(NOT nlohmann_json_FOUND)
  engine_missing("nlohmann_json" "nlohmann-json3-dev")
endif()
target_link_libraries(engine_deps INTERFACE nlohmann_json::nlohmann_json)

find_path(STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb)
if(NOT STB_INCLUDE_DIR)
  engine_missing("stb_image_write.h" "libstb-dev")
endif()
target_include_directories(engine_deps INTERFACE ${STB_INCLUDE_DIR})

find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  engine_missing("zlib" "zlib1g-dev")
endif()
target_link_libraries(engine_deps INTERFACE ZLIB::ZLIB)

# OpenBLAS through its cblas interface.
find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas x86_64-linux-gnu/openblas-pthread)
find_library(OPENBLAS_LIBRARY NAMES openblas)
if(NOT CBLAS_INCLUDE_DIR OR NOT OPENBLAS_LIBRARY)
  engine_missing("OpenBLAS (cblas.h, libopenblas)" "libopenblas-dev")
endif()
target_include_directories(engine_deps INTERFACE ${CBLAS_INCLUDE_DIR})
target_link_libraries(engine_deps INTERFACE ${OPENBLAS_LIBRARY})

find_package(OpenMP QUIET)
if(OpenMP_CXX_FOUND)
  target_link_libraries(engine_deps INTERFACE OpenMP::OpenMP_CXX)
else()
  message(STATUS "OpenMP not found: CPU kernels run single-threaded")
endif()

find_package(Threads REQUIRED)
target_link_libraries(engine_deps INTERFACE Threads::Threads)

if(ENGINE_BUILD_TESTS)
  find_package(Catch2 2 QUIET)
  if(NOT Catch2_FOUND)
    engine_missing("Catch2 v2" "catch2")
  endif()
endif()
