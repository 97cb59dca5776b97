# Layers. Each layer's target sees, as include root, a folder of links to its own
# folders and the folders below it, and nothing else: an #include of a higher layer
# does not compile. The roots live in the build tree (include_roots/<target>/), e.g.
#   include_roots/engine_kernels_cpu/base            -> <source>/base
#   include_roots/engine_kernels_cpu/kernels/cpu     -> <source>/kernels/cpu
# Finer rules inside a layer (engine/core below engine/ops, ...) are checked by
# scripts/check_layers.sh, a test.
function(engine_include_root target)
  set(root ${CMAKE_BINARY_DIR}/include_roots/${target})
  file(REMOVE_RECURSE ${root})
  foreach(path ${ARGN})
    get_filename_component(parent ${root}/${path} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${path} ${root}/${path} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PUBLIC ${root})
endfunction()
