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

# oneDNN (libdnnl, API 2.x) for the f32 CPU convolutions; without it they take the
# im2col + OpenBLAS reference path (kernels/cpu/conv.h), which stays in every build.
option(ENGINE_ONEDNN "CPU convolutions through oneDNN when libdnnl is found" ON)
set(ENGINE_WITH_ONEDNN OFF)
if(ENGINE_ONEDNN)
  find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
  find_library(DNNL_LIBRARY NAMES dnnl)
  set(dnnl_major "")
  if(DNNL_INCLUDE_DIR)
    file(STRINGS ${DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h dnnl_major REGEX "#define DNNL_VERSION_MAJOR ")
    string(REGEX REPLACE ".*DNNL_VERSION_MAJOR ([0-9]+).*" "\\1" dnnl_major "${dnnl_major}")
  endif()
  if(DNNL_INCLUDE_DIR AND DNNL_LIBRARY AND dnnl_major STREQUAL "2")
    set(ENGINE_WITH_ONEDNN ON)
    message(STATUS "oneDNN: ${DNNL_LIBRARY} (CPU convolutions; ENGINE_CPU_CONV=im2col selects the reference path)")
  elseif(DNNL_INCLUDE_DIR AND DNNL_LIBRARY)
    message(STATUS "oneDNN ${dnnl_major}.x found, but the engine uses the 2.x API: "
                   "the CPU convolutions use the im2col reference path")
  else()
    message(STATUS "oneDNN not found (install libdnnl-dev): the CPU convolutions use the im2col reference path")
  endif()
else()
  message(STATUS "ENGINE_ONEDNN=OFF: the CPU convolutions use the im2col reference path")
endif()

# MPI (Open MPI) for multi-process training (engine/dist, docs/DISTRIBUTED.md). Without
# it every run is one process, as before, and the mpirun tests are not registered.
option(ENGINE_MPI "Multi-process training over MPI when an MPI library is found" ON)
set(ENGINE_WITH_MPI OFF)
if(ENGINE_MPI)
  find_package(MPI QUIET COMPONENTS C)
  if(MPI_C_FOUND)
    set(ENGINE_WITH_MPI ON)
    message(STATUS "MPI found (${MPI_C_LIBRARIES}): multi-process training through mpirun is built")
  else()
    message(STATUS "MPI not found: train_app runs as one process only (install libopenmpi-dev openmpi-bin "
                   "for multi-process training, docs/DISTRIBUTED.md)")
  endif()
else()
  message(STATUS "ENGINE_MPI=OFF: train_app runs as one process only (docs/DISTRIBUTED.md)")
endif()
