// The ICMP error a sender needs when its packet, once encapsulated, would
// not fit the port: IPv4 "fragmentation needed" (type 3 code 4, RFC 1191)
// when the packet says don't fragment, ICMPv6 "packet too big" (RFC 8201)
// always. Without it, path MTU discovery towards an ipip/GUE service
// black-holes large packets. The error comes from the VIP, the address the
// sender was talking to, and goes back through the port the packet came in.
#pragma once

#include <cstdint>

#include "encap.hpp"

namespace anylb {

// Rewrites `f` in place into that error: new Ethernet, IP and ICMP headers
// in the headroom in front of the packet's IP header, which stays where it
// is as the quoted part, cut to what an error may carry (576 bytes in all
// for IPv4, RFC 1812 4.3.2.3; 1280 for IPv6, RFC 4443 2.4). `mtu` is the
// largest packet the sender may send. Fails with encap_too_big when no
// error is due (IPv4 without DF, or the packet is itself an ICMP error) or
// there is no room.
RewriteResult make_too_big_reply(FrameBuffer f, const ParsedPacket& p, const MacAddress& port_mac, uint32_t mtu);

}  // namespace anylb
