#include "checksum.hpp"

#include "bytes.hpp"

namespace anylb {

uint32_t checksum_partial(std::span<const std::byte> data, uint32_t sum) {
  uint64_t s = sum;
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) s += load_be16(data.data() + i);
  if (i < data.size()) s += static_cast<uint64_t>(std::to_integer<uint8_t>(data[i])) << 8;
  while (s >> 32) s = (s & 0xffffffff) + (s >> 32);
  return static_cast<uint32_t>(s);
}

uint16_t ipv6_upper_checksum(const std::byte* ip, const std::byte* l4, uint32_t len, uint8_t next_header) {
  uint32_t sum = checksum_partial({ip + 8, 32});  // source and destination addresses
  sum += len;
  sum += next_header;
  return checksum_fold(checksum_partial({l4, len}, sum));
}

uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

}  // namespace anylb
