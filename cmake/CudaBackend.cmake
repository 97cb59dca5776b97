# The CUDA backend switch. AUTO builds it when nvcc is found; ON requires it.
set(ENGINE_WITH_CUDA OFF)
if(NOT ENGINE_CUDA STREQUAL "OFF")
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

if(ENGINE_WITH_CUDA)
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

function(engine_add_cuda_backend target)
  file(GLOB cuda_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/cuda/*.cu ${CMAKE_SOURCE_DIR}/engine/runtime/*.cu
       ${CMAKE_SOURCE_DIR}/engine/ops/*.cu)
  target_sources(${target} PRIVATE ${cuda_sources})
  target_compile_definitions(${target} PUBLIC ENGINE_HAS_CUDA=1)
  # Host-side warnings as for the C++ sources; device-side warnings are on by default.
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo
                         -Xcompiler=-Wall,-Wextra>)
  target_include_directories(${target} PUBLIC ${CUDNN_INCLUDE_DIR})
  target_link_libraries(${target} PUBLIC CUDA::cudart CUDA::cublas CUDA::cublasLt ${CUDNN_LIBRARY})
endfunction()
