#include "frb/json.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace frb {
namespace {

Json MustParse(std::string_view text) {
  auto r = Json::Parse(text);
  EXPECT_TRUE(r.ok()) << text << " -> " << r.status().ToString();
  return r.ok() ? *r : Json();
}

// Parses `text`, expects failure and returns the message.
std::string ParseError(std::string_view text, int max_depth = 64) {
  auto r = Json::Parse(text, max_depth);
  EXPECT_FALSE(r.ok()) << "accepted: " << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

// A document touching every kind of value, escape and nesting.
constexpr std::string_view kDoc = R"( {
  "name": "faiss \"rebuild\"\n\t\u00e9\u20ac\ud83d\ude00",
  "ints": [0, -1, 9223372036854775807, -9223372036854775808],
  "doubles": [0.5, -2.5e-3, 1E10, 1.0],
  "flags": {"on": true, "off": false, "none": null},
  "nested": [[[]], {}, [{"k": [1, {"x": "y"}]}]],
  "raw": "caf\u00e9 / ok"
} )";

TEST(JsonParseTest, Scalars) {
  EXPECT_TRUE(MustParse("null").is_null());
  EXPECT_EQ(MustParse("true"), Json(true));
  EXPECT_EQ(MustParse("false"), Json(false));
  EXPECT_EQ(MustParse(" \t\r\n42 \n"), Json(42));
  EXPECT_EQ(MustParse("-0").type(), Json::Type::kInt);
  EXPECT_EQ(MustParse("\"hi\""), Json("hi"));
  EXPECT_EQ(MustParse("1.5"), Json(1.5));
  EXPECT_EQ(MustParse("1e3").type(), Json::Type::kDouble);
  EXPECT_EQ(MustParse("1E+2").as_double(), 100.0);
  EXPECT_EQ(MustParse("25e-1").as_double(), 2.5);
  EXPECT_EQ(MustParse("5e-324").as_double(), 5e-324);
  EXPECT_TRUE(std::signbit(MustParse("-0.0").as_double()));
}

TEST(JsonParseTest, Int64Limits) {
  Json max = MustParse("9223372036854775807");
  ASSERT_TRUE(max.is_int());
  EXPECT_EQ(max.as_int(), std::numeric_limits<int64_t>::max());
  Json min = MustParse("-9223372036854775808");
  ASSERT_TRUE(min.is_int());
  EXPECT_EQ(min.as_int(), std::numeric_limits<int64_t>::min());
  // One past either end no longer fits and becomes a double.
  Json over = MustParse("9223372036854775808");
  EXPECT_EQ(over.type(), Json::Type::kDouble);
  EXPECT_EQ(over.as_double(), 9223372036854775808.0);
  EXPECT_EQ(MustParse("-9223372036854775809").type(), Json::Type::kDouble);
  EXPECT_EQ(MustParse("123456789012345678901234567890").type(),
            Json::Type::kDouble);
  EXPECT_EQ(Json::Parse(max.Dump())->as_int(), max.as_int());
  EXPECT_EQ(Json::Parse(min.Dump())->as_int(), min.as_int());
}

TEST(JsonParseTest, StringEscapes) {
  EXPECT_EQ(MustParse(R"("\"\\\/\b\f\n\r\t")").as_string(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(MustParse(R"("\u0041\u0000z")").as_string(),
            std::string("A\0z", 3));
  EXPECT_EQ(MustParse(R"("\u00e9")").as_string(), "\xC3\xA9");
  EXPECT_EQ(MustParse(R"("\u20AC")").as_string(), "\xE2\x82\xAC");
  EXPECT_EQ(MustParse(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(MustParse(R"("\uDBFF\uDFFF")").as_string(), "\xF4\x8F\xBF\xBF");
  // Raw UTF-8 passes through untouched.
  EXPECT_EQ(MustParse("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"").as_string(),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
}

TEST(JsonParseTest, StringErrors) {
  EXPECT_NE(ParseError(R"("\ud800")").find("unpaired high surrogate"),
            std::string::npos);
  EXPECT_NE(ParseError(R"("\ud800\u0041")").find("unpaired high surrogate"),
            std::string::npos);
  EXPECT_NE(ParseError(R"("\udc00")").find("unpaired low surrogate"),
            std::string::npos);
  EXPECT_NE(ParseError(R"("\u12G4")").find("invalid hex digit"),
            std::string::npos);
  EXPECT_NE(ParseError(R"(["\u12", 1])").find("byte 6: invalid hex digit"),
            std::string::npos);
  EXPECT_NE(ParseError(R"("\u12")").find("truncated \\u escape"),
            std::string::npos);
  EXPECT_EQ(ParseError(R"("ab\x")"),
            "JSON parse error at byte 3: invalid escape \\'x'");
  EXPECT_EQ(
      ParseError("\"a\nb\""),
      "JSON parse error at byte 2: unescaped control character in string");
  EXPECT_NE(ParseError("\"a\tb\"").find("control character"),
            std::string::npos);
  EXPECT_NE(ParseError("\"abc").find("unterminated string"), std::string::npos);
  EXPECT_NE(ParseError("\"abc\\").find("unterminated string"),
            std::string::npos);
  for (std::string_view bad :
       {"\xFF", "\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xE2\x82", "\xE2\x82z"}) {
    std::string doc = "\"ok" + std::string(bad) + "\"";
    EXPECT_EQ(ParseError(doc),
              "JSON parse error at byte 3: invalid UTF-8 in string")
        << testing::PrintToString(doc);
  }
}

TEST(JsonParseTest, NumberErrors) {
  EXPECT_EQ(ParseError("01"),
            "JSON parse error at byte 0: leading zero in number");
  EXPECT_NE(ParseError("-01").find("leading zero"), std::string::npos);
  EXPECT_NE(ParseError("[00]").find("at byte 1: leading zero"),
            std::string::npos);
  EXPECT_NE(ParseError("-").find("expected a digit"), std::string::npos);
  EXPECT_NE(ParseError("-a").find("expected a digit"), std::string::npos);
  EXPECT_NE(ParseError("1.").find("after '.'"), std::string::npos);
  EXPECT_NE(ParseError("1.e5").find("after '.'"), std::string::npos);
  EXPECT_NE(ParseError("1e").find("in exponent"), std::string::npos);
  EXPECT_NE(ParseError("1e+").find("in exponent"), std::string::npos);
  EXPECT_NE(ParseError("1e400").find("number out of range"), std::string::npos);
  EXPECT_NE(ParseError("-1e400").find("number out of range"),
            std::string::npos);
  for (std::string_view bad : {".5", "+1", "NaN", "nan", "Infinity",
                               "-Infinity", "0x10", "1_000", "1.5.5", "--1"}) {
    ParseError(bad);
  }
}

TEST(JsonParseTest, StructureErrorsNameTheByte) {
  EXPECT_EQ(ParseError(R"({"a" 1})"),
            "JSON parse error at byte 5: expected ':', got '1'");
  EXPECT_EQ(ParseError(R"({"a":1,})"),
            "JSON parse error at byte 7: expected a string key, got '}'");
  EXPECT_EQ(ParseError("{1:2}"),
            "JSON parse error at byte 1: expected a string key, got '1'");
  EXPECT_EQ(ParseError(R"({"a":1 "b":2})"),
            "JSON parse error at byte 7: expected ',' or '}', got '\"'");
  EXPECT_EQ(ParseError("[1,]"),
            "JSON parse error at byte 3: expected a value, got ']'");
  EXPECT_EQ(ParseError("[1 2]"),
            "JSON parse error at byte 3: expected ',' or ']', got '2'");
  EXPECT_EQ(ParseError("[,1]"),
            "JSON parse error at byte 1: expected a value, got ','");
  EXPECT_EQ(ParseError(""),
            "JSON parse error at byte 0: unexpected end of input");
  EXPECT_EQ(ParseError("  "),
            "JSON parse error at byte 2: unexpected end of input");
  EXPECT_EQ(
      ParseError("[1"),
      "JSON parse error at byte 2: expected ',' or ']', got end of input");
  EXPECT_EQ(ParseError("1 2"),
            "JSON parse error at byte 2: unexpected '2' after the document");
  EXPECT_EQ(
      ParseError("{}\x01"),
      "JSON parse error at byte 2: unexpected byte 0x01 after the document");
  EXPECT_NE(ParseError("[]]").find("after the document"), std::string::npos);
  EXPECT_NE(ParseError("tru").find("invalid literal"), std::string::npos);
  EXPECT_NE(ParseError("True").find("expected a value"), std::string::npos);
  EXPECT_NE(ParseError("nulll").find("after the document"), std::string::npos);
  // No comments, single quotes, BOM or exotic whitespace.
  for (std::string_view bad : {"// c\n1", "/* c */ 1", "1 // c", "'a'",
                               "\xEF\xBB\xBF{}", "\v1", "\f1", "{\"a\":1}}"}) {
    ParseError(bad);
  }
}

TEST(JsonParseTest, DuplicateKeysAreRejected) {
  EXPECT_EQ(ParseError(R"({"a":1,"b":2,"a":3})"),
            "JSON parse error at byte 13: duplicate key \"a\"");
  // Equal after unescaping is still a duplicate.
  EXPECT_NE(ParseError(R"({"a":1,"\u0061":2})").find("duplicate key"),
            std::string::npos);
  // The same key in different objects is fine.
  EXPECT_TRUE(Json::Parse(R"({"a":{"a":1},"b":{"a":2}})").ok());
  // Many keys: the check must stay fast and still find the repeat.
  std::string big = "{";
  for (int i = 0; i < 50000; ++i) big += "\"k" + std::to_string(i) + "\":0,";
  EXPECT_TRUE(Json::Parse(big.substr(0, big.size() - 1) + "}").ok());
  EXPECT_NE(ParseError(big + "\"k777\":1}").find("duplicate key \"k777\""),
            std::string::npos);
}

TEST(JsonParseTest, DepthLimit) {
  auto nested = [](int n, char open, char close) {
    return std::string(n, open) + std::string(n, close);
  };
  EXPECT_TRUE(Json::Parse(nested(64, '[', ']')).ok());
  EXPECT_EQ(ParseError(nested(65, '[', ']')),
            "JSON parse error at byte 64: nesting deeper than 64");
  EXPECT_TRUE(Json::Parse("[[1]]", 2).ok());
  EXPECT_NE(ParseError("[[[1]]]", 2).find("nesting deeper than 2"),
            std::string::npos);
  EXPECT_NE(ParseError(R"({"a":{"b":{}}})", 2).find("nesting deeper"),
            std::string::npos);
  EXPECT_TRUE(Json::Parse("7", 0).ok());
  ParseError("[]", 0);
  // Far past the limit: an error, not a stack overflow.
  EXPECT_NE(ParseError(nested(1000000, '[', ']')).find("nesting deeper"),
            std::string::npos);
  EXPECT_NE(ParseError(std::string(1000000, '[')).find("nesting deeper"),
            std::string::npos);
}

TEST(JsonParseTest, TruncatedPrefixesFailCleanly) {
  ASSERT_TRUE(Json::Parse(kDoc).ok());
  // Every proper prefix that ends before the closing brace is incomplete.
  const size_t close = kDoc.rfind('}');
  for (size_t n = 0; n <= close; ++n) {
    auto r = Json::Parse(kDoc.substr(0, n));
    ASSERT_FALSE(r.ok()) << "prefix " << n;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    const std::string& msg = r.status().message();
    ASSERT_EQ(msg.rfind("JSON parse error at byte ", 0), 0u) << msg;
    EXPECT_LE(std::stoul(msg.substr(25)), n) << msg;
  }
}

TEST(JsonParseTest, RandomMutationsNeverCrash) {
  std::mt19937_64 rng(1);
  const std::string alphabet = "{}[]\":,\\u0123456789eE+-.tfnrl \n\x80\xC3\xFF";
  for (int iter = 0; iter < 20000; ++iter) {
    std::string doc(kDoc);
    for (int k = 1 + rng() % 3; k > 0; --k) {
      const size_t at = rng() % doc.size();
      switch (rng() % 3) {
        case 0:
          doc[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          doc.erase(at, 1);
          break;
        default:
          doc.insert(at, 1, alphabet[rng() % alphabet.size()]);
      }
    }
    auto r = Json::Parse(doc);
    if (r.ok()) {
      // Whatever is accepted must survive a dump and re-parse.
      auto again = Json::Parse(r->Dump());
      ASSERT_TRUE(again.ok()) << again.status().ToString();
      EXPECT_EQ(*again, *r);
    }
  }
}

TEST(JsonDumpTest, CompactAndPretty) {
  Json v;
  v["name"] = "x";
  v["list"].Push(1);
  v["list"].Push(Json::MakeObject());
  v["list"].Push(Json::MakeArray());
  v["obj"]["b"] = true;
  v["obj"]["n"] = nullptr;
  EXPECT_EQ(v.Dump(),
            R"({"name":"x","list":[1,{},[]],"obj":{"b":true,"n":null}})");
  EXPECT_EQ(v.Dump(2), R"({
  "name": "x",
  "list": [
    1,
    {},
    []
  ],
  "obj": {
    "b": true,
    "n": null
  }
})");
  EXPECT_EQ(Json(Json::Array{1, 2}).Dump(0), "[\n1,\n2\n]");
  EXPECT_EQ(Json().Dump(4), "null");
}

TEST(JsonDumpTest, StringEscaping) {
  EXPECT_EQ(Json("a\"b\\c/").Dump(), R"("a\"b\\c/")");
  EXPECT_EQ(Json("\b\f\n\r\t").Dump(), R"("\b\f\n\r\t")");
  EXPECT_EQ(Json(std::string("\x00\x01\x1f\x7f", 4)).Dump(),
            "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(Json("\xC3\xA9\xF0\x9F\x98\x80").Dump(),
            "\"\xC3\xA9\xF0\x9F\x98\x80\"");
  // Invalid UTF-8 is replaced so the output is always valid JSON.
  std::string dumped = Json(
                           "a\xFF"
                           "b\xED\xA0\x80")
                           .Dump();
  EXPECT_EQ(dumped, R"("a\ufffdb\ufffd\ufffd\ufffd")");
  EXPECT_TRUE(Json::Parse(dumped).ok());
  for (int c = 0; c < 256; ++c) {
    std::string s(1, static_cast<char>(c));
    if (c >= 0x80) continue;
    EXPECT_EQ(Json::Parse(Json(s).Dump())->as_string(), s) << c;
  }
}

TEST(JsonDumpTest, Numbers) {
  EXPECT_EQ(Json(int64_t{-9223372036854775807 - 1}).Dump(),
            "-9223372036854775808");
  EXPECT_EQ(Json(0.1).Dump(), "0.1");
  EXPECT_EQ(Json(1.0).Dump(), "1.0");
  EXPECT_EQ(Json(-0.0).Dump(), "-0.0");
  EXPECT_EQ(Json(1e300).Dump(), "1e+300");
  EXPECT_EQ(Json(std::nan("")).Dump(), "null");
  EXPECT_EQ(Json(std::numeric_limits<double>::infinity()).Dump(), "null");
  EXPECT_EQ(Json(-std::numeric_limits<double>::infinity()).Dump(), "null");
  // Doubles round-trip bit for bit and stay doubles.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; ++i) {
    const double d = std::bit_cast<double>(rng());
    if (!std::isfinite(d)) continue;
    auto back = Json::Parse(Json(d).Dump());
    ASSERT_TRUE(back.ok()) << Json(d).Dump();
    ASSERT_EQ(back->type(), Json::Type::kDouble);
    ASSERT_EQ(std::bit_cast<uint64_t>(back->as_double()),
              std::bit_cast<uint64_t>(d))
        << Json(d).Dump();
  }
}

TEST(JsonDumpTest, RoundTripCompactAndPretty) {
  Json doc = MustParse(kDoc);
  for (int indent : {-1, 0, 1, 2, 4}) {
    auto back = Json::Parse(doc.Dump(indent));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, doc) << indent;
    EXPECT_EQ(back->Dump(indent), doc.Dump(indent));
  }
  EXPECT_EQ(doc.Dump().find('\n'), std::string::npos);
}

TEST(JsonValueTest, Accessors) {
  Json doc = MustParse(kDoc);
  EXPECT_EQ(doc.size(), 6u);
  EXPECT_EQ(doc.as_object()[0].first, "name");  // insertion order kept
  EXPECT_EQ(doc["ints"].size(), 4u);
  EXPECT_EQ(doc["doubles"].as_array()[3].as_int(), 1);  // integral double
  EXPECT_EQ(doc["ints"].as_array()[1].as_double(), -1.0);
  EXPECT_TRUE(doc["doubles"].as_array()[0].is_number());
  EXPECT_FALSE(doc["doubles"].as_array()[0].is_int());
  EXPECT_EQ(doc.Find("missing"), nullptr);
  EXPECT_EQ(Json(3).Find("a"), nullptr);
  EXPECT_EQ(Json(3).size(), 0u);
  const Json* flags = doc.Find("flags");
  ASSERT_NE(flags, nullptr);
  EXPECT_TRUE(flags->GetBool("on"));
  EXPECT_TRUE(flags->GetBool("none", true));  // wrong type -> default
  EXPECT_EQ(doc.GetString("raw"), "caf\xC3\xA9 / ok");
  EXPECT_EQ(doc.GetString("ints", "def"), "def");
  EXPECT_EQ(doc.GetInt("missing", 7), 7);
  EXPECT_EQ(doc.GetDouble("missing", 2.5), 2.5);

  Json o = MustParse(R"({"i":3,"d":2.0,"f":2.5,"big":1e30,"s":"x"})");
  EXPECT_EQ(o.GetInt("i"), 3);
  EXPECT_EQ(o.GetInt("d"), 2);
  EXPECT_EQ(o.GetInt("f", -1), -1);
  EXPECT_EQ(o.GetInt("big", -1), -1);
  EXPECT_EQ(o.GetInt("s", -1), -1);
  EXPECT_EQ(o.GetDouble("i"), 3.0);
}

TEST(JsonValueTest, NullBecomesContainer) {
  Json a;
  a.Push("x");
  EXPECT_TRUE(a.is_array());
  EXPECT_EQ(a.Dump(), R"(["x"])");
  Json o;
  o["k"];  // inserts a null member
  EXPECT_TRUE(o.is_object());
  EXPECT_EQ(o.Dump(), R"({"k":null})");
  o["k"] = 1;
  o["k"] = 2;  // assignment replaces, never duplicates
  EXPECT_EQ(o.Dump(), R"({"k":2})");
  EXPECT_EQ(Json(uint64_t{5}), Json(5));
  EXPECT_EQ(Json(std::string_view("v")), Json("v"));
}

TEST(JsonDeathTest, WrongTypeAccessAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH((void)Json(1).as_string(), "expected string, value is int");
  EXPECT_DEATH((void)Json("s").as_int(), "expected int, value is string");
  EXPECT_DEATH((void)Json(1.5).as_int(), "integral number");
  EXPECT_DEATH(Json(1)["k"], "expected object");
  EXPECT_DEATH(Json(true).Push(1), "expected array");
}

}  // namespace
}  // namespace frb
