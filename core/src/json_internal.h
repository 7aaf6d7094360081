// Private to the JSON module (json.cc, json_parse.cc).
#pragma once

#include <cstddef>
#include <string_view>

namespace frb::json_internal {

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 when it is
// malformed (overlong, surrogate, above U+10FFFF, truncated).
size_t Utf8SeqLen(std::string_view s, size_t i);

}  // namespace frb::json_internal
