# The CUDA backend switch. AUTO builds it when nvcc is found; ON requires it; SIM
# compiles the same .cu sources with the host compiler against the simulated device in
# cudasim/ (no GPU needed: every [cuda] test runs on the CPU).
set(ENGINE_WITH_CUDA OFF)
set(ENGINE_CUDA_SIM OFF)
if(ENGINE_CUDA STREQUAL "SIM")
  set(ENGINE_WITH_CUDA ON)
  set(ENGINE_CUDA_SIM ON)
  find_path(ENGINE_CUDA_INCLUDE_DIR cuda_runtime.h HINTS /usr/local/cuda/include ENV CUDA_HOME
            PATH_SUFFIXES include targets/x86_64-linux/include)
  find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${ENGINE_CUDNN_ROOT} ENV CUDNN_ROOT ${ENGINE_CUDA_INCLUDE_DIR}
            PATH_SUFFIXES include)
  if(NOT ENGINE_CUDA_INCLUDE_DIR OR NOT CUDNN_INCLUDE_DIR)
    message(FATAL_ERROR "ENGINE_CUDA=SIM needs the CUDA toolkit's headers (cuda_runtime.h, cublas_v2.h) and cudnn.h; "
                        "none were found (set CUDA_HOME, or -DENGINE_CUDNN_ROOT for cuDNN)")
  endif()
  message(STATUS "CUDA backend SIM: simulated device, headers from ${ENGINE_CUDA_INCLUDE_DIR}")
elseif(NOT ENGINE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(_engine_nvcc nvcc HINTS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
    if(_engine_nvcc)
      set(CMAKE_CUDA_COMPILER ${_engine_nvcc})
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(ENGINE_WITH_CUDA ON)
  elseif(ENGINE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ENGINE_CUDA=ON but nvcc was not found: install the CUDA toolkit or set CMAKE_CUDA_COMPILER")
  else()
    message(STATUS "nvcc not found: building the CPU backend only")
  endif()
endif()

if(ENGINE_WITH_CUDA AND NOT ENGINE_CUDA_SIM)
  set(CMAKE_CUDA_ARCHITECTURES ${ENGINE_CUDA_ARCHS})
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  find_path(CUDNN_INCLUDE_DIR cudnn.h
    HINTS ${ENGINE_CUDNN_ROOT} ENV CUDNN_ROOT ${CUDAToolkit_INCLUDE_DIRS}
    PATH_SUFFIXES include)
  # NAMES: a PyTorch wheel's nvidia/cudnn/lib holds only the versioned libcudnn.so.9.
  find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
    HINTS ${ENGINE_CUDNN_ROOT} ENV CUDNN_ROOT ${CUDAToolkit_LIBRARY_DIR}
    PATH_SUFFIXES lib lib64 lib/x64)
  if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
    message(FATAL_ERROR "cuDNN not found: set -DENGINE_CUDNN_ROOT=<dir with include/cudnn.h and lib/libcudnn.so> "
                        "(PyTorch wheels carry one under site-packages/nvidia/cudnn) or -DENGINE_CUDA=OFF")
  endif()
  message(STATUS "CUDA backend ON (archs ${ENGINE_CUDA_ARCHS}, cuDNN ${CUDNN_INCLUDE_DIR})")
endif()

# Compiles a target's .cu sources: with nvcc, or in the SIM build with g++ against the
# simulator's device header, linking cudasim in place of cudart, cuBLAS and cuDNN.
function(engine_cuda_target target)
  get_target_property(sources ${target} SOURCES)
  list(FILTER sources INCLUDE REGEX "\\.cu$")
  if(ENGINE_CUDA_SIM)
    set_source_files_properties(${sources} TARGET_DIRECTORY ${target} PROPERTIES LANGUAGE CXX
                                COMPILE_OPTIONS "-x;c++;-include;${CUDASIM_DEVICE_HEADER};-ffp-contract=off;-Wno-unknown-pragmas")
    target_compile_definitions(${target} PUBLIC ENGINE_CUDA_SIM=1)
    target_link_libraries(${target} PUBLIC cudasim)
    return()
  endif()
  # Host-side warnings as for the C++ sources; device-side warnings are on by default.
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo
                         -Xcompiler=-Wall,-Wextra>)
  target_include_directories(${target} PUBLIC ${CUDNN_INCLUDE_DIR})
  target_link_libraries(${target} PUBLIC CUDA::cudart CUDA::cublas CUDA::cublasLt ${CUDNN_LIBRARY})
endfunction()
