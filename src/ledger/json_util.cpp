#include "ledger/json_util.h"

#include <boost/json/basic_parser_impl.hpp>
#include <set>
#include <vector>

namespace aethel::ledger {
namespace {

// A SAX handler for boost::json::basic_parser that builds nothing and only
// remembers the first key repeated within one object.
struct DuplicateKeyFinder {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::vector<std::set<std::string, std::less<>>> open_objects;
  std::vector<bool> frame_is_object;
  std::string key_so_far;
  std::optional<std::string> duplicate;

  using ec_t = boost::json::error_code;
  using sv_t = boost::json::string_view;
  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_array_begin(ec_t&) { return push(false); }
  bool on_array_end(std::size_t, ec_t&) { return pop(); }
  bool on_object_begin(ec_t&) { return push(true); }
  bool on_object_end(std::size_t, ec_t&) { return pop(); }
  bool on_string_part(sv_t, std::size_t, ec_t&) { return true; }
  bool on_string(sv_t, std::size_t, ec_t&) { return true; }
  bool on_key_part(sv_t s, std::size_t, ec_t&) {
    key_so_far.append(s.data(), s.size());
    return true;
  }
  bool on_key(sv_t s, std::size_t, ec_t&) {
    key_so_far.append(s.data(), s.size());
    auto& keys = open_objects.back();
    if (!keys.insert(key_so_far).second && !duplicate) duplicate = key_so_far;
    key_so_far.clear();
    return true;
  }
  bool on_number_part(sv_t, ec_t&) { return true; }
  bool on_int64(std::int64_t, sv_t, ec_t&) { return true; }
  bool on_uint64(std::uint64_t, sv_t, ec_t&) { return true; }
  bool on_double(double, sv_t, ec_t&) { return true; }
  bool on_bool(bool, ec_t&) { return true; }
  bool on_null(ec_t&) { return true; }
  bool on_comment_part(sv_t, ec_t&) { return true; }
  bool on_comment(sv_t, ec_t&) { return true; }

  bool push(bool is_object) {
    frame_is_object.push_back(is_object);
    if (is_object) open_objects.emplace_back();
    return true;
  }
  bool pop() {
    if (frame_is_object.back()) open_objects.pop_back();
    frame_is_object.pop_back();
    return true;
  }
};

}  // namespace

Result<boost::json::value> parse_strict_json(std::string_view text) {
  if (text.size() > kMaxJsonBytes) {
    return Error{"bad_json", "JSON text of " + std::to_string(text.size()) +
                                 " bytes exceeds the limit of " + std::to_string(kMaxJsonBytes)};
  }
  boost::json::error_code ec;
  boost::json::value value =
      boost::json::parse(boost::json::string_view(text.data(), text.size()), ec);
  if (ec) return Error{"bad_json", "invalid JSON: " + ec.message()};
  boost::json::basic_parser<DuplicateKeyFinder> finder{boost::json::parse_options{}};
  finder.write_some(false, text.data(), text.size(), ec);
  if (ec) return Error{"bad_json", "invalid JSON: " + ec.message()};
  if (finder.handler().duplicate) {
    return Error{"duplicate_key",
                 "JSON object repeats the key \"" + *finder.handler().duplicate + "\""};
  }
  return value;
}

std::optional<int64_t> json_int64(const boost::json::value& v, int64_t min, int64_t max) {
  int64_t n = 0;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    n = static_cast<int64_t>(v.get_uint64());
  } else {
    return std::nullopt;
  }
  if (n < min || n > max) return std::nullopt;
  return n;
}

std::optional<uint64_t> json_uint64(const boost::json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  return std::nullopt;
}

}  // namespace aethel::ledger
