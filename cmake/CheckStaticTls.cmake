# cmake -DBINARY=<file> -P cmake/CheckStaticTls.cmake: fails when BINARY loads
# a shared libcurl, libssl or libcrypto (directly or through another library).
# With ARMORGATE_CURL_PREFIX the agent must carry them inside (peak RSS).
execute_process(COMMAND ldd ${BINARY} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ldd ${BINARY} failed: ${err}")
endif()
string(REGEX MATCHALL "lib(curl|curl-gnutls|ssl|crypto)\\.so[^\n]*" shared "${out}")
if(shared)
  message(FATAL_ERROR "${BINARY} is meant to link libcurl and OpenSSL statically, but loads: ${shared}")
endif()
