"""TRex ASTF profile: HTTP GETs to the VIP through anylb, answered by
backends (DSR: replies go straight back to TRex's server side).

  start -f perf/trex/astf_http.py -m 1 -t cps=10000

(-m multiplies cps, the new connections a second; -t takes the rest of the
line: keep it last.)

TRex plays both client (198.51.100.0/24) and, for a lab without real
backends, server (the backends' addresses behind the appliance).
"""

REQUEST = (b"GET / HTTP/1.1\r\nHost: 203.0.113.10\r\nUser-Agent: trex\r\n\r\n")
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n" + b"x" * 1024)


def build_packets():
    """The payloads both sides exchange (checked without TRex)."""
    return [REQUEST, RESPONSE]


class ASTFHttp:
    def get_profile(self, tunables=None, cps=1000, **kwargs):
        from trex.astf.api import (ASTFAssociationRule, ASTFIPGen, ASTFIPGenDist, ASTFIPGenGlobal, ASTFProfile,
                                   ASTFProgram, ASTFTCPClientTemplate, ASTFTCPServerTemplate, ASTFTemplate)
        client = ASTFProgram()
        client.send(REQUEST)
        client.recv(len(RESPONSE))
        server = ASTFProgram()
        server.recv(len(REQUEST))
        server.send(RESPONSE)
        ip_gen = ASTFIPGen(glob=ASTFIPGenGlobal(ip_offset="1.0.0.0"),
                           dist_client=ASTFIPGenDist(ip_range=["198.51.100.10", "198.51.100.250"], distribution="seq"),
                           dist_server=ASTFIPGenDist(ip_range=["203.0.113.10", "203.0.113.10"], distribution="seq"))
        template = ASTFTemplate(client_template=ASTFTCPClientTemplate(program=client, ip_gen=ip_gen, port=80,
                                                                      cps=float(cps)),
                                server_template=ASTFTCPServerTemplate(program=server,
                                                                      assoc=ASTFAssociationRule(port=80)))
        return ASTFProfile(default_ip_gen=ip_gen, templates=template)


def register():
    return ASTFHttp()
