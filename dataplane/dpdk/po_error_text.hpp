// The text of a Boost.Program_options error, for whatever the user wrote.
// Boost builds it by replacing each placeholder ("%value%",
// "%original_token%", ...) in its template with the offending token until
// none is left, so a token holding its own placeholder ("--mtu 1%value%",
// "--x%original_token%") loops for ever, the message growing: the
// dataplane and the control plane hung at start (tests/fuzz, options).
// Here every '%' the user wrote is shown as "%25", which holds no
// placeholder. Header-only: both daemons use it.
#pragma once

#include <boost/program_options/errors.hpp>

#include <map>
#include <string>

namespace anylb {

inline std::string po_error_text(const boost::program_options::error& e) {
  namespace po = boost::program_options;
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr) return e.what();  // no placeholders
  // The substitutions are protected: a pointer to member named in a
  // derived class reaches them, on a copy (what() keeps its template).
  struct Access : po::error_with_option_name {
    static std::map<std::string, std::string>& substitutions(po::error_with_option_name& x) {
      return x.*(&Access::m_substitutions);
    }
  };
  po::error_with_option_name copy = *named;
  for (auto& [key, value] : Access::substitutions(copy)) {
    std::string escaped;
    for (char c : value) escaped += c == '%' ? std::string("%25") : std::string(1, c);
    value = escaped;
  }
  return copy.what();
}

}  // namespace anylb
