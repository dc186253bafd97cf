// Plain-text tables for anylbctl's human output.
#pragma once

#include <string>
#include <vector>

namespace anylb::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string str() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string human_count(double v);  // 1234567 -> "1.23M"

}  // namespace anylb::ctl
