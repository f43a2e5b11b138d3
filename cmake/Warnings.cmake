# The one warnings list for every target (curl keeps its picky warnings in one file too).
set(ARMORGATE_WARNINGS
  -Wall -Wextra -Werror -pedantic
  -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes
  -Wwrite-strings -Wformat=2 -Wformat-security -Wundef -Wvla
  -Wnull-dereference -Wdouble-promotion -Wimplicit-fallthrough
  -Wno-unused-parameter)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND ARMORGATE_WARNINGS -Wlogical-op -Wduplicated-cond -Wjump-misses-init)
endif()
add_compile_options(${ARMORGATE_WARNINGS} -fstack-protector-strong)
if(NOT ARMORGATE_SANITIZE)
  add_compile_definitions($<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
endif()
