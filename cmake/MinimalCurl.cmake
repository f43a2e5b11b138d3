# ARMORGATE_CURL_PREFIX=<dir printed by cmake/build-minimal-curl.sh>: link the
# agent with that libcurl.a (Debian's curl source, HTTP(S) only) and OpenSSL's
# static libssl.a/libcrypto.a instead of Debian's shared libcurl and OpenSSL.
# Why: the agent's peak RSS (README "Dependencies and why").
#
# common links PkgConfig::CURL and PkgConfig::OPENSSL; both are switched here
# per linked target ($<TARGET_PROPERTY:NAME> is the executable being linked),
# so the agent, its tests and the kube client's tests run on the libcurl the
# agent ships with. Targets in ARMORGATE_CURL_DEBIAN_TARGETS keep Debian's
# shared libraries: the webhook, whose image ships Debian's libcurl.
# Headers come from the prefix for everyone: the same curl 7.88.1 API as
# libcurl4-openssl-dev's.
set(ARMORGATE_CURL_PREFIX "" CACHE PATH
  "Install prefix of cmake/build-minimal-curl.sh; empty: Debian's shared libcurl for every target")
set(ARMORGATE_CURL_DEBIAN_TARGETS armorgate-webhook CACHE STRING
  "Targets that keep Debian's shared libcurl/OpenSSL when ARMORGATE_CURL_PREFIX is set")
if(NOT ARMORGATE_CURL_PREFIX)
  return()
endif()

set(_curl_a ${ARMORGATE_CURL_PREFIX}/lib/libcurl.a)
if(NOT EXISTS ${_curl_a} OR NOT EXISTS ${ARMORGATE_CURL_PREFIX}/include/curl/curl.h)
  message(FATAL_ERROR "ARMORGATE_CURL_PREFIX=${ARMORGATE_CURL_PREFIX} has no lib/libcurl.a + include/curl/curl.h; "
    "use the directory cmake/build-minimal-curl.sh prints")
endif()
# OpenSSL's own archives from libssl-dev, beside the .so pkg-config found.
find_library(ARMORGATE_LIBSSL_A NAMES libssl.a HINTS ${OPENSSL_LIBDIR} REQUIRED)
find_library(ARMORGATE_LIBCRYPTO_A NAMES libcrypto.a HINTS ${OPENSSL_LIBDIR} REQUIRED)
message(STATUS "libcurl: ${_curl_a} + static OpenSSL (all targets but ${ARMORGATE_CURL_DEBIAN_TARGETS})")

string(REPLACE ";" "$<SEMICOLON>" _debian "${ARMORGATE_CURL_DEBIAN_TARGETS}")
set(_static "$<NOT:$<IN_LIST:$<TARGET_PROPERTY:NAME>,${_debian}>>")
set(_openssl_a ${ARMORGATE_LIBSSL_A} ${ARMORGATE_LIBCRYPTO_A} Threads::Threads ${CMAKE_DL_LIBS})

# armorgate_tls_switch(TARGET STATIC_LIBS...): TARGET's link libraries become
# STATIC_LIBS for the switched targets and stay as they were for the others.
function(armorgate_tls_switch target)
  get_target_property(orig ${target} INTERFACE_LINK_LIBRARIES)
  set(libs)
  foreach(l IN LISTS ARGN)
    list(APPEND libs "$<${_static}:${l}>")
  endforeach()
  foreach(l IN LISTS orig)
    list(APPEND libs "$<$<NOT:${_static}>:${l}>")
  endforeach()
  set_property(TARGET ${target} PROPERTY INTERFACE_LINK_LIBRARIES "${libs}")
endfunction()

armorgate_tls_switch(PkgConfig::CURL ${_curl_a} ${_openssl_a} z)
armorgate_tls_switch(PkgConfig::OPENSSL ${_openssl_a})
set_property(TARGET PkgConfig::CURL PROPERTY INTERFACE_INCLUDE_DIRECTORIES ${ARMORGATE_CURL_PREFIX}/include)
