// The searchd tests' and benchmarks' keep-alive client under its old names.
#pragma once

#include "http_client.h"

namespace frb::searchd::testing {

using HttpResponse = frb::test::HttpResponse;
using MiniHttpClient = frb::test::HttpConnection;

}  // namespace frb::searchd::testing
